# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Sends one message the way GitLab does, from the gitlab.rb the gitlab preset wrote, with Ruby's
# mail library (Debian's ruby-mail), the delivery method behind GitLab's ActionMailer. No GitLab
# in Debian, so this mirrors GitLab's own steps:
# - gitlab.rb is Ruby, evaluated as gitlab-ctl does (as the lab's parser tests read it);
# - omnibus-gitlab's smtp_settings.rb.erb turns gitlab_rails['smtp_*'] into ActionMailer's
#   smtp_settings: authentication (a symbol) only when set, user_name and password (nil when
#   unset), then address, port, domain, enable_starttls_auto, tls, ssl, openssl_verify_mode,
#   ca_path and ca_file, each only when set; no file is rendered unless smtp_enable is true;
# - the From is gitlab_email_from, named gitlab_email_display_name (GitLab by default).
# Mail::SMTP then logs in only when user_name is set, and upgrades with STARTTLS when the server
# offers it and enable_starttls_auto is on (its default).
#
# Usage: ruby gitlab_send.rb GITLAB_RB TO SUBJECT
# Exit 0 when the mail library reports the message sent; 1 with its error; 2 when gitlab.rb does
# not enable SMTP.

require 'mail'

SMTP_KEYS = %w[address port domain enable_starttls_auto tls ssl openssl_verify_mode ca_path ca_file].freeze

# The top-level calls a gitlab.rb makes besides gitlab_rails[...] (external_url).
def external_url(url); end

def read_gitlab_rb(path)
  gitlab_rails = {}
  eval(File.read(path, encoding: 'UTF-8'), binding, path) # rubocop:disable Security/Eval
  gitlab_rails
end

def smtp_settings(rails)
  settings = {}
  settings[:authentication] = rails['smtp_authentication'].to_s.to_sym unless rails['smtp_authentication'].nil?
  settings[:user_name] = rails['smtp_user_name']
  settings[:password] = rails['smtp_password']
  SMTP_KEYS.each do |key|
    value = rails["smtp_#{key}"]
    settings[key.to_sym] = value unless value.nil?
  end
  settings
end

if ARGV.length != 3
  warn 'usage: ruby gitlab_send.rb GITLAB_RB TO SUBJECT'
  exit 2
end
rails = read_gitlab_rb(ARGV[0])
unless rails['smtp_enable'] == true
  warn "gitlab_rails['smtp_enable'] is not true: GitLab would not send through SMTP"
  exit 2
end
from = Mail::Address.new(rails['gitlab_email_from'] || 'gitlab@localhost')
from.display_name = rails['gitlab_email_display_name'] || 'GitLab'
mail = Mail.new
mail.from = from.format
mail.to = ARGV[1]
mail.subject = ARGV[2]
mail.body = "sent by the mail gem with GitLab's smtp_settings\n"
mail.delivery_method :smtp, smtp_settings(rails)
begin
  mail.deliver!
rescue StandardError => e
  warn "gitlab: mail not sent: #{e.class}: #{e.message}"
  exit 1
end
puts 'sent'
