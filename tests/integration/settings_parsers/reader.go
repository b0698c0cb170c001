// SPDX-FileCopyrightText: mailops.smtp contributors
// SPDX-License-Identifier: GPL-3.0-or-later
// Test helper for conftest.py: prints, per file, the hex of [smtp] password as gopkg.in/ini.v1 (Grafana's parser) reads it.
package main

import (
	"encoding/hex"
	"fmt"
	"os"

	"gopkg.in/ini.v1"
)

func main() {
	for _, f := range os.Args[1:] {
		cfg, err := ini.Load(f)
		if err != nil {
			fmt.Println("ERR " + err.Error())
			continue
		}
		fmt.Println(hex.EncodeToString([]byte(cfg.Section("smtp").Key("password").String())))
	}
}
