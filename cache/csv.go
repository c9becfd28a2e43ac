package cache

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// csvHeader is the CSV form of a snapshot, for agencies whose exports are spreadsheets.
// List columns pack their entries with ';' between entries and ':' between parts:
//
//	categories  dibao:2024-01-01:2026-12-31;tekun::     (code:from:to, dates may be empty)
//	flags       veteran;disabled
//	chronic     hypertension:H1|H2;diabetes:H3           (disease:institution|institution)
//	filings     320500:2024-01-01:2024-12-31             (region:from:to)
//	as_of       RFC 3339, may be empty
var csvHeader = []string{"id_number", "name", "scheme", "status", "insured_region", "county", "categories",
	"flags", "account_balance", "chronic", "filings", "social_security_card", "as_of"}

// ReadSnapshotCSV reads the CSV form, calling each for every good row; bad rows are returned
// as LineErrors with their line numbers, as ReadSnapshot does.
func ReadSnapshotCSV(r io.Reader, each func(n int, l *Line) error) ([]LineError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	if !slices.Equal(header, csvHeader) {
		return nil, fmt.Errorf("csv header must be %s", strings.Join(csvHeader, ","))
	}
	var bad []LineError
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, LineError{Line: pe.Line, Err: pe.Err})
				continue
			}
			return bad, err
		}
		// Only after a good Read: FieldPos panics on a record the reader did not return
		// (found by FuzzSnapshotLines: an unterminated quote at the end of the file).
		n, _ := cr.FieldPos(0)
		if len(rec) != len(csvHeader) {
			bad = append(bad, LineError{Line: n, Err: fmt.Errorf("%d fields, want %d", len(rec), len(csvHeader))})
			continue
		}
		l, err := csvLine(rec)
		if err == nil {
			err = each(n, l)
		}
		if err != nil {
			bad = append(bad, LineError{Line: n, Err: err})
		}
	}
}

func csvLine(rec []string) (*Line, error) {
	l := &Line{IDNumber: rec[0], Name: rec[1], Scheme: rec[2], Status: rec[3], InsuredRegion: rec[4], County: rec[5],
		SocialSecurityCard: rec[11]}
	for i, e := range entries(rec[6]) {
		p := strings.Split(e, ":")
		if len(p) != 3 {
			return nil, fmt.Errorf("categories[%d]: want code:from:to", i)
		}
		c := LineCategory{Code: p[0]}
		var err error
		if c.From, err = optionalDate(p[1]); err != nil {
			return nil, fmt.Errorf("categories[%d].from: %w", i, err)
		}
		if c.To, err = optionalDate(p[2]); err != nil {
			return nil, fmt.Errorf("categories[%d].to: %w", i, err)
		}
		l.Categories = append(l.Categories, c)
	}
	l.Flags = entries(rec[7])
	if rec[8] != "" {
		d, err := decimal.NewFromString(rec[8])
		if err != nil {
			return nil, fmt.Errorf("account_balance: %q is not an amount", rec[8])
		}
		l.AccountBalance = d
	}
	for i, e := range entries(rec[9]) {
		disease, insts, ok := strings.Cut(e, ":")
		if !ok || disease == "" {
			return nil, fmt.Errorf("chronic[%d]: want disease:institution|institution", i)
		}
		l.Chronic = append(l.Chronic, LineChronic{Disease: disease, Institutions: strings.Split(insts, "|")})
	}
	for i, e := range entries(rec[10]) {
		p := strings.Split(e, ":")
		if len(p) != 3 {
			return nil, fmt.Errorf("filings[%d]: want region:from:to", i)
		}
		f := LineFiling{Region: p[0]}
		var err error
		if f.From, err = optionalDate(p[1]); err != nil {
			return nil, fmt.Errorf("filings[%d].from: %w", i, err)
		}
		if f.To, err = optionalDate(p[2]); err != nil {
			return nil, fmt.Errorf("filings[%d].to: %w", i, err)
		}
		l.Filings = append(l.Filings, f)
	}
	if rec[12] != "" {
		t, err := time.Parse(time.RFC3339, rec[12])
		if err != nil {
			return nil, fmt.Errorf("as_of: %q is not an RFC 3339 time", rec[12])
		}
		l.AsOf = &t
	}
	return l, nil
}

func entries(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ";")
}

func optionalDate(s string) (policy.Date, error) {
	if s == "" {
		return policy.Date{}, nil
	}
	return policy.ParseDate(s)
}

// SnapshotFile is an open snapshot file: CSV when its name ends in .csv, JSON Lines
// otherwise. AsOf, its modification time, is the as-of of records that give none.
type SnapshotFile struct {
	Path string
	AsOf time.Time
	f    *os.File
}

func OpenSnapshot(path string) (*SnapshotFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &SnapshotFile{Path: path, AsOf: fileTime(f), f: f}, nil
}

// Each reads the file from the start, calling each for every good line; bad lines are
// returned with their line numbers and skipped.
func (s *SnapshotFile) Each(each func(n int, l *Line) error) ([]LineError, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var bad []LineError
	var err error
	if strings.HasSuffix(strings.ToLower(s.Path), ".csv") {
		bad, err = ReadSnapshotCSV(s.f, each)
	} else {
		bad, err = ReadSnapshot(s.f, each)
	}
	if err != nil {
		return bad, fmt.Errorf("%s: %w", s.Path, err)
	}
	return bad, nil
}

// Lines counts the file's lines (an upper bound on its persons) and rewinds it.
func (s *SnapshotFile) Lines() (int64, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var n int64
	buf := make([]byte, 1<<20)
	for {
		k, err := s.f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return n + 1, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (s *SnapshotFile) Close() error { return s.f.Close() }
