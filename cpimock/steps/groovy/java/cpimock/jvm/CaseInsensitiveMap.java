package cpimock.jvm;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Message headers as Camel keeps them: names compare case-insensitively, keep the case they were
 * last set with, and stay in the order they were first set.
 */
final class CaseInsensitiveMap extends AbstractMap<String, Object> {
    private final Map<String, Entry> entries = new LinkedHashMap<>();

    private static final class Entry implements Map.Entry<String, Object> {
        String key;
        Object value;

        Entry(String key, Object value) {
            this.key = key;
            this.value = value;
        }

        @Override
        public String getKey() {
            return key;
        }

        @Override
        public Object getValue() {
            return value;
        }

        @Override
        public Object setValue(Object value) {
            Object old = this.value;
            this.value = value;
            return old;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Map.Entry)) {
                return false;
            }
            Map.Entry<?, ?> other = (Map.Entry<?, ?>) o;
            return java.util.Objects.equals(key, other.getKey()) && java.util.Objects.equals(value, other.getValue());
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hashCode(key) ^ java.util.Objects.hashCode(value);
        }

        @Override
        public String toString() {
            return key + "=" + value;
        }
    }

    private static String fold(Object key) {
        return key == null ? null : key.toString().toLowerCase(Locale.ROOT);
    }

    @Override
    public Object get(Object key) {
        Entry entry = entries.get(fold(key));
        return entry == null ? null : entry.value;
    }

    @Override
    public boolean containsKey(Object key) {
        return entries.containsKey(fold(key));
    }

    @Override
    public Object put(String key, Object value) {
        if (key == null) {
            throw new IllegalArgumentException("header names are not null");
        }
        String folded = fold(key);
        Entry entry = entries.get(folded);
        if (entry == null) {
            entries.put(folded, new Entry(key, value));
            return null;
        }
        entry.key = key;
        return entry.setValue(value);
    }

    @Override
    public Object remove(Object key) {
        Entry entry = entries.remove(fold(key));
        return entry == null ? null : entry.value;
    }

    @Override
    public void clear() {
        entries.clear();
    }

    @Override
    public int size() {
        return entries.size();
    }

    @Override
    public Set<Map.Entry<String, Object>> entrySet() {
        return new AbstractSet<Map.Entry<String, Object>>() {
            @Override
            public Iterator<Map.Entry<String, Object>> iterator() {
                Iterator<Entry> inner = entries.values().iterator();
                return new Iterator<Map.Entry<String, Object>>() {
                    @Override
                    public boolean hasNext() {
                        return inner.hasNext();
                    }

                    @Override
                    public Map.Entry<String, Object> next() {
                        return inner.next();
                    }

                    @Override
                    public void remove() {
                        inner.remove();
                    }
                };
            }

            @Override
            public int size() {
                return entries.size();
            }
        };
    }
}
