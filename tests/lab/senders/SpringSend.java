// SPDX-FileCopyrightText: mailops.smtp contributors
// SPDX-License-Identifier: GPL-3.0-or-later
// Sends one message the way a Spring Boot application does, from its application.properties,
// with Jakarta Mail (Debian's libjakarta-mail-java), Spring Boot's mail library. No Spring in
// Debian, so this does what Spring does with the spring.mail.* properties:
// MailSenderPropertiesConfiguration copies host, port, username, password, protocol (default
// "smtp") and spring.mail.properties.* (as Jakarta Mail session properties) onto a
// JavaMailSenderImpl, whose connectTransport() opens the transport with them: "" for the
// username means none. spring.mail.ssl.enabled sets mail.<protocol>.ssl.enable (Spring Boot 3).
// The file is read with java.util.Properties, as Spring reads .properties files; the spring
// preset refuses ${...} in values, so Spring would resolve no placeholder in them.
//
// Usage: java -cp DIR:jakarta-mail.jar:jakarta-activation.jar SpringSend FILE TO SUBJECT FROM
// (FROM: the application sets its own From; Spring Boot has no property for it.)
// Exit 0 when Jakarta Mail reports the message sent; 1 with its error; 2 when the file does not
// configure a mail sender (no spring.mail.host: Spring Boot creates no JavaMailSender).
import jakarta.mail.Message;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeMessage;
import java.io.FileInputStream;
import java.util.Date;
import java.util.Properties;

public class SpringSend {
    private static final String PREFIX = "spring.mail.";
    private static final String SESSION_PREFIX = PREFIX + "properties.";

    static Properties load(String path) throws Exception {
        Properties p = new Properties();
        try (FileInputStream in = new FileInputStream(path)) {
            p.load(in);
        }
        return p;
    }

    /** spring.mail.properties.* as Jakarta Mail session properties, as Spring Boot passes them. */
    static Properties sessionProperties(Properties file, String protocol) {
        Properties session = new Properties();
        for (String key : file.stringPropertyNames()) {
            if (key.startsWith(SESSION_PREFIX)) {
                session.setProperty(key.substring(SESSION_PREFIX.length()), file.getProperty(key));
            }
        }
        if ("true".equalsIgnoreCase(file.getProperty(PREFIX + "ssl.enabled", "").trim())) {
            session.setProperty("mail." + protocol + ".ssl.enable", "true");
        }
        return session;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: SpringSend FILE TO SUBJECT FROM");
            System.exit(2);
        }
        Properties file = load(args[0]);
        String host = file.getProperty(PREFIX + "host");
        if (host == null || host.isEmpty()) {
            System.err.println("spring.mail.host is not set: Spring Boot would create no mail sender");
            System.exit(2);
        }
        String portText = file.getProperty(PREFIX + "port");
        int port = portText == null ? -1 : Integer.parseInt(portText.trim());
        String protocol = file.getProperty(PREFIX + "protocol", "smtp");
        String username = file.getProperty(PREFIX + "username");
        String password = file.getProperty(PREFIX + "password");
        // JavaMailSenderImpl.connectTransport(): an empty username means none.
        if ("".equals(username)) {
            username = null;
            if ("".equals(password)) {
                password = null;
            }
        }
        Session session = Session.getInstance(sessionProperties(file, protocol));
        MimeMessage msg = new MimeMessage(session);
        msg.setFrom(new InternetAddress(args[3]));
        msg.setRecipients(Message.RecipientType.TO, InternetAddress.parse(args[1]));
        msg.setSubject(args[2], "UTF-8");
        msg.setText("sent by Jakarta Mail with Spring Boot's spring.mail.* settings\n", "UTF-8");
        msg.setSentDate(new Date());
        msg.saveChanges();
        try {
            Transport transport = session.getTransport(protocol);
            try {
                transport.connect(host, port, username, password);
                transport.sendMessage(msg, msg.getAllRecipients());
            } finally {
                transport.close();
            }
        } catch (MessagingException e) {
            System.err.println("spring: mail not sent: " + e);
            System.exit(1);
        }
        System.out.println("sent");
    }
}
