# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send one message as a Django project does, from the settings module the django preset wrote.

Run with the machine's Python and Debian's python3-django: the module's upper-case names become
Django's settings (as a project's settings.py that imports the module makes them), and
django.core.mail.send_mail sends through the backend they name (EMAIL_BACKEND, the SMTP backend),
with EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS/SSL, EMAIL_TIMEOUT, and a login only when both
EMAIL_HOST_USER and EMAIL_HOST_PASSWORD are set. The From is DEFAULT_FROM_EMAIL.

    /usr/bin/python3 django_send.py SETTINGS_MODULE_FILE TO SUBJECT

Exit 0 when Django reports one message sent; 1 with Django's (smtplib's) error.
"""

import runpy
import sys


def settings_from_module(path):
    return {k: v for k, v in runpy.run_path(path).items() if k.isupper()}


def main(argv):
    if len(argv) != 4:
        print("usage: django_send.py SETTINGS_MODULE_FILE TO SUBJECT", file=sys.stderr)
        return 2
    from django.conf import settings
    settings.configure(**settings_from_module(argv[1]))
    from django.core.mail import send_mail
    try:
        sent = send_mail(argv[3], "sent by django.core.mail with the project's EMAIL_* settings\n",
                         None, [argv[2]], fail_silently=False)
    except Exception as exc:  # pylint: disable=broad-except  # Django raises smtplib's and socket's errors
        print("django: mail not sent: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
        return 1
    if sent != 1:
        print("django: send_mail reported %r messages sent" % (sent,), file=sys.stderr)
        return 1
    print("sent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
