#!/bin/sh
# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# postfix-check.sh RECIPIENT SUBJECT TIMEOUT
# Submits one message to the local Postfix and waits, at most TIMEOUT
# seconds, until it has left the queue (delivered) or carries a delay reason
# (deferred: Postfix defers a refused SASL login). The recipient is unique to
# this check, so it finds the message among the host's own mail. A deferred
# or stuck check message is deleted, so Postfix does not retry it later.
set -u
rcpt=$1
subject=$2
limit=$3

ours() {
    postqueue -j 2>/dev/null | grep -F "\"$rcpt\"" || true
}

forget() {
    for id in $(printf '%s\n' "$1" | sed -n 's/.*"queue_id": *"\([^"]*\)".*/\1/p'); do
        postsuper -d "$id" >/dev/null 2>&1 || true
    done
}

if ! printf 'To: %s\nSubject: %s\n\nPostfix still authenticates after the credential rotation.\n' \
        "$rcpt" "$subject" | sendmail -i "$rcpt"; then
    echo "sendmail could not submit the message"
    exit 2
fi

i=0
while [ "$i" -lt "$limit" ]; do
    line=$(ours)
    if [ -z "$line" ]; then
        echo "delivered"
        exit 0
    fi
    case $line in
        *'"delay_reason"'*)
            reason=$(printf '%s\n' "$line" | sed -n 's/.*"delay_reason": *"\([^"]*\)".*/\1/p' | head -n 1)
            forget "$line"
            echo "deferred: $reason"
            exit 1
            ;;
    esac
    sleep 1
    i=$((i + 1))
done
forget "$(ours)"
echo "still queued after ${limit}s; see the mail log"
exit 1
