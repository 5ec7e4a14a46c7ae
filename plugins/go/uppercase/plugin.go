// Upper-cases each record's value (a map). Values that are not UTF-8 are rejected.
//
// The upper case is Unicode's full one (ß is SS), from golang.org/x/text/cases, as in
// every Sluice SDK's uppercase: Go's strings.ToUpper keeps ß.
package main

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/language"

	"sluice.dev/sdk"
)

type uppercase struct{ caser cases.Caser }

func (u *uppercase) Process(record *sluice.Record, out *sluice.Output) error {
	text, err := record.ValueString()
	if err != nil {
		return err
	}
	out.EmitValue([]byte(u.caser.String(text)))
	return nil
}

func newUppercase(sluice.Config) (sluice.Plugin, error) {
	return &uppercase{caser: cases.Upper(language.Und)}, nil
}

func init() { sluice.Export(newUppercase) }

func main() {}
