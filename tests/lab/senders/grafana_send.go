// SPDX-FileCopyrightText: mailops.smtp contributors
// SPDX-License-Identifier: GPL-3.0-or-later
// Sends one message the way Grafana does, from a grafana.ini: there is no Grafana in Debian, so
// this program does what Grafana's mailer does, with the same two libraries. The [smtp] section
// is read with gopkg.in/ini.v1 (Grafana's parser; the keys and defaults of pkg/setting's
// readSmtpSettings), and the message goes out through gopkg.in/mail.v2 (Grafana's mailer,
// pkg/services/notifications/smtp.go), whose Dialer is built as Grafana's createDialer builds it.
// Grafana also expands $__env{...} and ${...} in values; the grafana preset refuses values that
// hold them, so nothing here would be expanded.
//
// Usage: grafana_send GRAFANA_INI TO SUBJECT
// Exit 0 when the library reports the message sent; 1 with the library's error; 2 when the file
// does not configure SMTP at all.
package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"

	"gopkg.in/ini.v1"
	gomail "gopkg.in/mail.v2"
)

type smtpSettings struct {
	Enabled        bool
	Host           string
	User           string
	Password       string
	CertFile       string
	KeyFile        string
	FromAddress    string
	FromName       string
	EhloIdentity   string
	StartTLSPolicy string
	SkipVerify     bool
}

// readSmtpSettings: the keys Grafana reads from [smtp], with its defaults.
func readSmtpSettings(path string) (smtpSettings, error) {
	cfg, err := ini.Load(path)
	if err != nil {
		return smtpSettings{}, err
	}
	sec := cfg.Section("smtp")
	return smtpSettings{
		Enabled:        sec.Key("enabled").MustBool(false),
		Host:           sec.Key("host").MustString("localhost:25"),
		User:           sec.Key("user").String(),
		Password:       sec.Key("password").String(),
		CertFile:       sec.Key("cert_file").String(),
		KeyFile:        sec.Key("key_file").String(),
		FromAddress:    sec.Key("from_address").MustString("admin@grafana.localhost"),
		FromName:       sec.Key("from_name").MustString("Grafana"),
		EhloIdentity:   sec.Key("ehlo_identity").String(),
		StartTLSPolicy: sec.Key("startTLS_policy").String(),
		SkipVerify:     sec.Key("skip_verify").MustBool(false),
	}, nil
}

// startTLSPolicy is Grafana's getStartTLSPolicy.
func startTLSPolicy(policy string) gomail.StartTLSPolicy {
	switch policy {
	case "NoStartTLS":
		return gomail.NoStartTLS
	case "MandatoryStartTLS":
		return gomail.MandatoryStartTLS
	default:
		return gomail.OpportunisticStartTLS
	}
}

// createDialer is Grafana's createDialer: SSL on port 465 (NewDialer), the policy above, the
// client certificate when cert_file is set, and AUTH only when user is set (mail.v2).
func createDialer(s smtpSettings) (*gomail.Dialer, error) {
	host, port, err := net.SplitHostPort(s.Host)
	if err != nil {
		return nil, err
	}
	iPort, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	tlsconfig := &tls.Config{InsecureSkipVerify: s.SkipVerify, ServerName: host}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("could not load cert or key file: %w", err)
		}
		tlsconfig.Certificates = []tls.Certificate{cert}
	}
	d := gomail.NewDialer(host, iPort, s.User, s.Password)
	d.TLSConfig = tlsconfig
	d.StartTLSPolicy = startTLSPolicy(s.StartTLSPolicy)
	d.LocalName = s.EhloIdentity
	return d, nil
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: grafana_send GRAFANA_INI TO SUBJECT")
		os.Exit(2)
	}
	s, err := readSmtpSettings(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "grafana.ini does not load:", err)
		os.Exit(2)
	}
	if !s.Enabled {
		fmt.Fprintln(os.Stderr, "[smtp] enabled is not true: Grafana would not send mail")
		os.Exit(2)
	}
	d, err := createDialer(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grafana: cannot build the SMTP dialer:", err)
		os.Exit(1)
	}
	m := gomail.NewMessage()
	m.SetHeader("From", fmt.Sprintf("%s <%s>", s.FromName, s.FromAddress))
	m.SetHeader("To", os.Args[2])
	m.SetHeader("Subject", os.Args[3])
	m.SetBody("text/plain", "sent by gopkg.in/mail.v2 with Grafana's dialer settings\n")
	if err := d.DialAndSend(m); err != nil {
		fmt.Fprintln(os.Stderr, "grafana: failed to send email:", err)
		os.Exit(1)
	}
	fmt.Println("sent")
}
