// SPDX-FileCopyrightText: mailops.smtp contributors
// SPDX-License-Identifier: GPL-3.0-or-later
// Test helper for conftest.py: prints, per file, the hex of one key as java.util.Properties (Spring's parser) reads it.
import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

public class Reader {
    public static void main(String[] args) throws Exception {
        String key = args[0];
        for (int i = 1; i < args.length; i++) {
            Properties p = new Properties();
            try (FileInputStream in = new FileInputStream(args[i])) { p.load(in); }
            StringBuilder sb = new StringBuilder();
            for (byte b : p.getProperty(key).getBytes(StandardCharsets.UTF_8)) sb.append(String.format("%02x", b));
            System.out.println(sb);
        }
    }
}
