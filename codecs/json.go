package codecs

import (
	"fmt"
	json "github.com/segmentio/encoding/json"
)

// JSON is the goka codec of one message type T. Decode returns *T.
type JSON[T any] struct{}

// Encode accepts T or *T.
func (JSON[T]) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case *T:
		if v == nil {
			return nil, fmt.Errorf("encode %T: nil", value)
		}
		return json.Marshal(v)
	case T:
		return json.Marshal(&v)
	default:
		var zero T
		return nil, fmt.Errorf("encode: got %T, want %T", value, zero)
	}
}

// Decode returns a *T.
func (JSON[T]) Decode(data []byte) (any, error) {
	return Decode[T](data)
}

// Decode parses one message. Inside processor callbacks inputs arrive as
// raw bytes and are decoded with this, so a bad record becomes an error the
// callback handles instead of a stopped processor.
func Decode[T any](data []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("decode %T: %w", v, err)
	}
	return &v, nil
}

// Wire is the codec of every stream between groups: it encodes a message
// (any value, as JSON; []byte as is) and decodes to the raw bytes, which
// the receiving callback decodes itself (see Decode) so a bad record
// becomes an error it handles. One codec type per topic on both ends keeps
// goka's tester, which insists on it, able to run whole pipelines.
type Wire struct{}

// Encode marshals value as JSON; []byte is sent as is.
func (Wire) Encode(value any) ([]byte, error) {
	if b, ok := value.([]byte); ok {
		return b, nil
	}
	return json.Marshal(value)
}

// Decode returns data unchanged.
func (Wire) Decode(data []byte) (any, error) { return data, nil }
