// Command gensnapshot writes a synthetic eligibility snapshot of n persons, shaped like a
// province's: most persons with no aid category, some with one, a few with chronic
// registrations or cross-region filings; every ID number has a valid check digit. It is
// what the Redis memory and load-speed figures in loadtest/REPORT-eligibility.md measure.
//
//	go run ./loadtest/gensnapshot -n 10000000 -o /tmp/province.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/shopspring/decimal"

	"onestop/cache"
	"onestop/gateway/identity"
	"onestop/gateway/policy"
)

func main() {
	n := flag.Int("n", 1_000_000, "persons")
	out := flag.String("o", "snapshot.jsonl", "output file")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(*seed, 0))
	enc := json.NewEncoder(w)
	surnames := []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
	given := []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂")
	counties := []string{"320402", "320404", "320411", "320412", "320413", "320481"}
	for i := range *n {
		county := counties[rng.IntN(len(counties))]
		name := string(surnames[rng.IntN(len(surnames))]) + string(given[rng.IntN(len(given))])
		if rng.IntN(2) == 0 {
			name += string(given[rng.IntN(len(given))])
		}
		// Distinct persons need distinct numbers: i picks the birth date (a real one, so the
		// gateway's ID check accepts it) and the sequence number.
		birth := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/1000)
		l := cache.Line{
			IDNumber: identity.WithCheckDigit(county + birth.Format("20060102") + fmt.Sprintf("%03d", i%1000)),
			Name:     name, InsuredRegion: "320400", County: county,
			Scheme: "resident", Status: "adult",
		}
		if rng.IntN(3) == 0 {
			l.Scheme, l.Status = "employee", "in_service"
			l.AccountBalance = decimal.New(int64(rng.IntN(500_000)), -2)
			l.SocialSecurityCard = fmt.Sprintf("JS%09d", i)
		} else if rng.IntN(4) == 0 {
			l.SocialSecurityCard = fmt.Sprintf("JS%09d", i)
		}
		switch r := rng.IntN(100); {
		case r < 3:
			l.Categories = []cache.LineCategory{{Code: "dibao", From: policy.Date{Year: 2025, Month: 1, Day: 1}, To: policy.Date{Year: 2026, Month: 12, Day: 31}}}
		case r < 4:
			l.Categories = []cache.LineCategory{{Code: "tekun", From: policy.Date{Year: 2024, Month: 7, Day: 1}}}
		}
		if rng.IntN(50) == 0 {
			l.Chronic = []cache.LineChronic{{Disease: "hypertension", Institutions: []string{"H320401"}}}
		}
		if rng.IntN(200) == 0 {
			l.Filings = []cache.LineFiling{{Region: "310000", From: policy.Date{Year: 2026, Month: 1, Day: 1}, To: policy.Date{Year: 2026, Month: 12, Day: 31}}}
		}
		if err := enc.Encode(&l); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
