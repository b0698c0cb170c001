// SPDX-FileCopyrightText: mailops.smtp contributors
// SPDX-License-Identifier: GPL-3.0-or-later
// Reads keys of one file with java.util.Properties (what Spring Boot uses for
// application.properties) and prints the hex of each UTF-8 value on its own line.
// Usage: java PropsReader.java FILE KEY...
import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

public class PropsReader {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) { p.load(in); }
        for (int i = 1; i < args.length; i++) {
            String v = p.getProperty(args[i]);
            if (v == null) { System.out.println("MISSING"); continue; }
            StringBuilder sb = new StringBuilder();
            for (byte b : v.getBytes(StandardCharsets.UTF_8)) sb.append(String.format("%02x", b));
            System.out.println(sb);
        }
    }
}
