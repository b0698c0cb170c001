// SPDX-FileCopyrightText: mailops.smtp contributors
// SPDX-License-Identifier: GPL-3.0-or-later
// Reads keys of one section of an INI file with gopkg.in/ini.v1, Grafana's parser,
// and prints the hex of each value on its own line ("ERR ..." when the file does not load).
// Usage: ini_reader FILE SECTION KEY...
package main

import (
	"encoding/hex"
	"fmt"
	"os"

	"gopkg.in/ini.v1"
)

func main() {
	cfg, err := ini.Load(os.Args[1])
	if err != nil {
		fmt.Println("ERR " + err.Error())
		os.Exit(2)
	}
	sec := cfg.Section(os.Args[2])
	for _, k := range os.Args[3:] {
		fmt.Println(hex.EncodeToString([]byte(sec.Key(k).String())))
	}
}
