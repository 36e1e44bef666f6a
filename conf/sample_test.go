package conf

import (
	"os"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

// sample is the commented sample configuration shipped for operators.
const sample = "../contrib/stratamail.toml"

// TestSample loads the sample and checks that the values it gives for
// [server], [smtp] and [imap] are the defaults it says they are.
func TestSample(t *testing.T) {
	c, err := Load(sample)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.RetryInterval != DefaultRetryInterval ||
		s.ProbeInterval != DefaultProbeInterval ||
		s.MaxMessageSize != DefaultMaxMessageSize ||
		s.MaxRecipients != DefaultMaxRecipients {
		t.Errorf("the sample's [server] is not the defaults: %+v", s)
	}
	if !reflect.DeepEqual(c.SMTP.Listen, []string{DefaultSMTPListen}) ||
		!reflect.DeepEqual(c.IMAP.Listen, []string{DefaultIMAPListen}) {
		t.Errorf("the sample's listen addresses are not the defaults")
	}
	if c.Monitor != (Monitor{DefaultDownAfter, DefaultUpAfter}) {
		t.Errorf("the sample's [monitor] is not the defaults: %+v",
			c.Monitor)
	}
	if len(c.Users) == 0 {
		t.Fatal("the sample has no users")
	}
	for _, u := range c.Users {
		if !u.CheckPassword("change-me") {
			t.Errorf("%s: the hash is not of \"change-me\"", u.Address)
		}
	}
}

// TestSampleHasEveryKey checks that the sample shows every key conf
// knows, so that it stays the reference of the format.
func TestSampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		t.Fatal(err)
	}
	for table, keys := range schema {
		for _, k := range keys {
			if !md.IsDefined(table, k) && !inEntry(doc[table], k) {
				t.Errorf("the sample lacks %s.%s", table, k)
			}
		}
	}
}

// inEntry reports whether some entry of the array of tables v has k.
func inEntry(v any, k string) bool {
	ts, _ := v.([]map[string]any)
	for _, t := range ts {
		if _, ok := t[k]; ok {
			return true
		}
	}
	return false
}
