package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/hazelnut-mmp/hazelnut/stream"
)

// encodingV1 is the version byte of the record encoding:
//
//	0x01
//	uvarint len(topic) | topic
//	uvarint len(key)   | key
//	uvarint n          | value    n = 0: nil value (a tombstone), else len(value)+1
//	uvarint count      | headers  sorted by name, each:
//	    uvarint len(name) | name
//	    uvarint n         | value  n as for the record value
//
// nil and empty values are told apart because Kafka treats a nil value as a
// tombstone.
const encodingV1 = 0x01

var errCorrupt = errors.New("spool: corrupt record")

// encode returns the durable form of rec.
func encode(rec stream.Record) []byte {
	n := 1 + 3*binary.MaxVarintLen64 + len(rec.Topic) + len(rec.Key) + len(rec.Value)
	for k, v := range rec.Headers {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, encodingV1)
	b = appendString(b, rec.Topic)
	b = appendString(b, rec.Key)
	b = appendNullable(b, rec.Value)
	b = binary.AppendUvarint(b, uint64(len(rec.Headers)))
	if len(rec.Headers) > 0 {
		names := make([]string, 0, len(rec.Headers))
		for k := range rec.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			b = appendString(b, k)
			b = appendNullable(b, rec.Headers[k])
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendNullable(b []byte, v []byte) []byte {
	if v == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

// decode parses the durable form of a record. The result does not alias b.
func decode(b []byte) (stream.Record, error) {
	var rec stream.Record
	if len(b) == 0 {
		return rec, fmt.Errorf("%w: empty", errCorrupt)
	}
	if b[0] != encodingV1 {
		return rec, fmt.Errorf("%w: unknown encoding version %d", errCorrupt, b[0])
	}
	d := decoder{b: b[1:]}
	rec.Topic = d.string()
	rec.Key = d.string()
	rec.Value = d.nullable()
	count := d.uvarint()
	if d.err == nil && count > uint64(len(d.b)) {
		// Every header takes at least two bytes.
		d.err = errCorrupt
	}
	if d.err == nil && count > 0 {
		rec.Headers = make(map[string][]byte, count)
		for i := uint64(0); i < count && d.err == nil; i++ {
			k := d.string()
			rec.Headers[k] = d.nullable()
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	if d.err != nil {
		return stream.Record{}, d.err
	}
	return rec, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	return string(d.bytes(n))
}

func (d *decoder) nullable() []byte {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	return d.bytes(n - 1)
}
