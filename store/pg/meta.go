package pg

// Meta: small named values (seeds, chain cursor, memo key).
//
//	meta (key text PRIMARY KEY, val bytea)

func (t *tx) GetMeta(key string) ([]byte, error) {
	var v []byte
	if err := t.one("SELECT val FROM meta WHERE key = $1", []any{key}, &v); err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *tx) PutMeta(key string, val []byte) error {
	if val == nil {
		val = []byte{}
	}
	return t.later(`INSERT INTO meta (key, val) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET val = EXCLUDED.val`, []any{key, val}, nil)
}

func (t *tx) ForEachMeta(fn func(key string, val []byte) error) error {
	type kv struct {
		k string
		v []byte
	}
	all, err := list(t, "SELECT key, val FROM meta ORDER BY key", nil, func(r pgxRows, x *kv) error {
		return r.Scan(&x.k, &x.v)
	})
	if err != nil {
		return err
	}
	for _, x := range all {
		if err := fn(x.k, x.v); err != nil {
			return err
		}
	}
	return nil
}
