package cache

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/policy"
)

// A person's record in Redis is a compact binary value, because a province's 10 million
// persons must fit in a few GiB (JSON would take three times the space). Layout:
//
//	[0]      recordLive (1), or recordTombstone (0): removed by a delta while a load ran
//	[1]      length of the card field: 0 or cardFieldLen
//	[2:2+n]  the card field (so a delta can drop the old card's index entry; see scripts.go)
//	then     uvarint-prefixed strings, uvarint counts and numbers, in encodeRecord's order.
//
// The plain ID number is not in it: the masked ID keeps its first and last 4 characters.
const (
	recordTombstone = 0
	recordLive      = 1
	fieldLen        = 16 // bytes of the HMAC that name a person or card inside a bucket
)

var errCorruptRecord = errors.New("corrupt eligibility record")

// encodeRecord encodes a person; cardField is empty when the person has no card.
func encodeRecord(p *gateway.Person, cardField []byte) []byte {
	b := make([]byte, 0, 96)
	b = append(b, recordLive, byte(len(cardField)))
	b = append(b, cardField...)
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	date := func(d policy.Date) {
		v := 0
		if !d.IsZero() {
			v = d.Year*10000 + int(d.Month)*100 + d.Day
		}
		b = binary.AppendUvarint(b, uint64(v))
	}
	str(p.NameMasked)
	str(maskedIDCore(p.IDMasked))
	str(p.Scheme)
	str(p.Status)
	str(p.InsuredRegion)
	str(p.County)
	b = binary.AppendUvarint(b, uint64(len(p.Categories)))
	for _, c := range p.Categories {
		str(c.Code)
		date(c.From)
		date(c.To)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Flags)))
	for _, f := range p.Flags {
		str(f)
	}
	b = binary.AppendUvarint(b, uint64(p.AccountBalance.Shift(2).IntPart()))
	b = binary.AppendUvarint(b, uint64(len(p.Chronic)))
	for _, c := range p.Chronic {
		str(c.Disease)
		b = binary.AppendUvarint(b, uint64(len(c.Institutions)))
		for _, inst := range c.Institutions {
			str(inst)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(p.Filings)))
	for _, f := range p.Filings {
		str(f.Region)
		date(f.From)
		date(f.To)
	}
	b = binary.AppendVarint(b, p.AsOf.Unix())
	return b
}

// maskedIDCore keeps what the masked ID carries: "3204**********1234" → "32041234".
func maskedIDCore(masked string) string {
	if len(masked) == 18 {
		return masked[:4] + masked[14:]
	}
	return masked
}

func expandMaskedID(core string) string {
	if len(core) == 8 {
		return core[:4] + "**********" + core[4:]
	}
	return core
}

// decodeRecord is encodeRecord's inverse; key is the person key the record is stored under.
// It returns the card field (nil when none) and false for a tombstone.
func decodeRecord(key string, b []byte) (p *gateway.Person, cardField []byte, live bool, err error) {
	d := decoder{b: b}
	kind := d.byte()
	if d.err == nil && kind == recordTombstone && len(b) == 1 {
		return nil, nil, false, nil
	}
	if kind != recordLive {
		return nil, nil, false, errCorruptRecord
	}
	if n := int(d.byte()); n > 0 {
		cardField = d.take(n)
	}
	p = &gateway.Person{Key: key}
	p.NameMasked = d.str()
	p.IDMasked = expandMaskedID(d.str())
	p.Scheme = d.str()
	p.Status = d.str()
	p.InsuredRegion = d.str()
	p.County = d.str()
	for range d.count() {
		p.Categories = append(p.Categories, policy.Category{Code: d.str(), From: d.date(), To: d.date()})
	}
	for range d.count() {
		p.Flags = append(p.Flags, d.str())
	}
	p.AccountBalance = decimal.New(int64(d.uvarint()), -2)
	for range d.count() {
		c := gateway.ChronicRegistration{Disease: d.str()}
		for range d.count() {
			c.Institutions = append(c.Institutions, d.str())
		}
		p.Chronic = append(p.Chronic, c)
	}
	for range d.count() {
		p.Filings = append(p.Filings, gateway.Filing{Region: d.str(), From: d.date(), To: d.date()})
	}
	asOf, n := binary.Varint(d.rest())
	if n <= 0 {
		d.fail()
	} else {
		d.b = d.b[n:]
	}
	p.AsOf = time.Unix(asOf, 0).UTC()
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return nil, nil, false, d.err
	}
	return p, cardField, true, nil
}

// decoder reads a record, remembering the first failure so the caller checks once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorruptRecord
	}
	d.b = nil
}

func (d *decoder) rest() []byte { return d.b }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) take(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a list length, bounded by what is left so corrupt input cannot allocate much.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) str() string { return string(d.take(d.count())) }

func (d *decoder) date() policy.Date {
	v := int(d.uvarint())
	if v == 0 || d.err != nil {
		return policy.Date{}
	}
	return policy.Date{Year: v / 10000, Month: time.Month(v / 100 % 100), Day: v % 100}
}
