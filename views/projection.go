package views

import (
	"fmt"

	"github.com/lovoo/goka"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// projection is a view of a projection table whose values are T (JSON).
type projection[T any] struct {
	holder stream.ViewHolder
}

// get returns the value of key, or nil if there is none; name is the
// view's, for errors.
func (p *projection[T]) get(name, key string) (*T, error) {
	v, err := p.holder.Get(key)
	if err != nil {
		return nil, fmt.Errorf("%s view: %w", name, err)
	}
	if v == nil {
		return nil, nil
	}
	return v.(*T), nil
}

// component supervises the view of table, named view-<name>.
func (p *projection[T]) component(name string, table goka.Table, brokers []string, opts []goka.ViewOption) stream.Component {
	return stream.ViewComponent("view-"+name, &p.holder, func() (*goka.View, error) {
		return goka.NewView(brokers, table, new(codecs.JSON[T]), opts...)
	})
}
