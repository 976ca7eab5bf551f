package store

import "bytes"

// Meta: small named values (seeds, chain cursor, memo key), one bucket.

func (t *boltTx) GetMeta(key string) ([]byte, error) {
	b := t.b(bMeta)
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get([]byte(key))
	if v == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (t *boltTx) PutMeta(key string, val []byte) error {
	return t.tx.Bucket(bMeta).Put([]byte(key), val)
}
