package cpimock.jvm;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The values that cross between Python and the JVM, one tag byte each (the same table as bridge.py).
 *
 * <p>Values keep their Java type: Integer, Long, Short, Byte, BigInteger, Double, Float, BigDecimal,
 * Boolean, Character, String, byte[], Date, lists, sets and maps of those. Any other Java object
 * crosses as a handle (its class name and text), so that a later Groovy step of the same message
 * gets the very object back; Python objects cross the other way the same.
 */
final class Wire {
    static final int MAX_DEPTH = 64;
    // what a handle's text keeps of a long toString(): it is for display (headers, logs)
    static final int MAX_HANDLE_TEXT = 1 << 20;

    private Wire() {
    }

    /** Writes values for one answer: objects met more than once share one handle. */
    static final class Writer {
        private final DataOutputStream out;
        private final Map<Object, Long> seen = new IdentityHashMap<>();

        Writer(DataOutputStream out) {
            this.out = out;
        }

        void value(Object v) throws IOException {
            value(v, 0);
        }

        private void value(Object v, int depth) throws IOException {
            if (v == null) {
                out.writeByte('N');
            } else if (v instanceof String) {
                string((String) v);
            } else if (v instanceof Boolean) {
                out.writeByte((Boolean) v ? 'T' : 'F');
            } else if (v instanceof Integer) {
                out.writeByte('I');
                out.writeInt((Integer) v);
            } else if (v instanceof Long) {
                out.writeByte('J');
                out.writeLong((Long) v);
            } else if (v instanceof Short) {
                out.writeByte('H');
                out.writeShort((Short) v);
            } else if (v instanceof Byte) {
                out.writeByte('Y');
                out.writeByte((Byte) v);
            } else if (v instanceof Double) {
                out.writeByte('D');
                out.writeDouble((Double) v);
            } else if (v instanceof Float) {
                out.writeByte('f');
                out.writeFloat((Float) v);
            } else if (v instanceof BigDecimal) {
                out.writeByte('d');
                text(((BigDecimal) v).toString());
            } else if (v instanceof BigInteger) {
                out.writeByte('G');
                text(v.toString());
            } else if (v instanceof Character) {
                out.writeByte('C');
                out.writeChar((Character) v);
            } else if (v instanceof byte[]) {
                byte[] bytes = (byte[]) v;
                out.writeByte('B');
                out.writeInt(bytes.length);
                out.write(bytes);
            } else if (v instanceof Date) {
                out.writeByte('W');
                out.writeLong(((Date) v).getTime());
            } else if (v instanceof PyRef) {
                PyRef ref = (PyRef) v;
                out.writeByte('P');
                out.writeLong(ref.id);
                text(ref.type);
                text(ref.text);
            } else if (v instanceof CharSequence && !(v instanceof java.util.List)) {
                // GString, StringBuilder: their text, as Camel would convert them
                string(v.toString());
            } else if (depth < MAX_DEPTH && v instanceof Map) {
                Map<?, ?> map = (Map<?, ?>) v;
                List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
                out.writeByte('M');
                out.writeInt(entries.size());
                for (Map.Entry<?, ?> entry : entries) {
                    value(entry.getKey(), depth + 1);
                    value(entry.getValue(), depth + 1);
                }
            } else if (depth < MAX_DEPTH && (v instanceof List || v instanceof Object[])) {
                List<?> list = v instanceof List ? new ArrayList<>((List<?>) v) : java.util.Arrays.asList((Object[]) v);
                out.writeByte('L');
                out.writeInt(list.size());
                for (Object item : list) {
                    value(item, depth + 1);
                }
            } else if (depth < MAX_DEPTH && v instanceof Set) {
                List<?> items = new ArrayList<>((Collection<?>) v);
                out.writeByte('E');
                out.writeInt(items.size());
                for (Object item : items) {
                    value(item, depth + 1);
                }
            } else {
                handle(v);
            }
        }

        private void handle(Object v) throws IOException {
            Long id = seen.get(v);
            if (id == null) {
                id = Handles.put(v);
                seen.put(v, id);
            }
            String shown;
            try {
                shown = String.valueOf(v);
            } catch (RuntimeException e) {
                shown = v.getClass().getName() + " (toString failed: " + e + ")";
            }
            if (shown.length() > MAX_HANDLE_TEXT) {
                shown = shown.substring(0, MAX_HANDLE_TEXT) + "...";
            }
            out.writeByte('O');
            out.writeLong(id);
            text(v.getClass().getName());
            text(shown);
        }

        private void string(String s) throws IOException {
            out.writeByte('S');
            text(s);
        }

        void text(String s) throws IOException {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            out.writeInt(bytes.length);
            out.write(bytes);
        }
    }

    /** Reads the values of one frame; a malformed frame raises IOException, never a half value. */
    static final class Reader {
        private final DataInputStream in;
        private int left;

        Reader(DataInputStream in, int length) {
            this.in = in;
            this.left = length;
        }

        int left() {
            return left;
        }

        Object value() throws IOException {
            return value(0);
        }

        private Object value(int depth) throws IOException {
            if (depth > MAX_DEPTH + 1) {
                throw new IOException("a value nests deeper than " + MAX_DEPTH + " levels");
            }
            int tag = u8();
            switch (tag) {
                case 'N':
                    return null;
                case 'T':
                    return Boolean.TRUE;
                case 'F':
                    return Boolean.FALSE;
                case 'I':
                    take(4);
                    return in.readInt();
                case 'J':
                    take(8);
                    return in.readLong();
                case 'H':
                    take(2);
                    return in.readShort();
                case 'Y':
                    take(1);
                    return in.readByte();
                case 'D':
                    take(8);
                    return in.readDouble();
                case 'f':
                    take(4);
                    return in.readFloat();
                case 'd':
                    return new BigDecimal(text());
                case 'G':
                    return new BigInteger(text());
                case 'C':
                    take(2);
                    return in.readChar();
                case 'S':
                    return text();
                case 'B':
                    return bytes();
                case 'W':
                    take(8);
                    return new Date(in.readLong());
                case 'L': {
                    int n = count();
                    List<Object> list = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        list.add(value(depth + 1));
                    }
                    return list;
                }
                case 'E': {
                    int n = count();
                    Set<Object> set = new LinkedHashSet<>();
                    for (int i = 0; i < n; i++) {
                        set.add(value(depth + 1));
                    }
                    return set;
                }
                case 'M': {
                    int n = count();
                    Map<Object, Object> map = new LinkedHashMap<>();
                    for (int i = 0; i < n; i++) {
                        Object key = value(depth + 1);
                        map.put(key, value(depth + 1));
                    }
                    return map;
                }
                case 'O': {
                    take(8);
                    long id = in.readLong();
                    text();
                    text();
                    return Handles.get(id);
                }
                case 'P': {
                    take(8);
                    long id = in.readLong();
                    String type = text();
                    return new PyRef(id, type, text());
                }
                default:
                    throw new IOException("unknown value tag " + tag);
            }
        }

        int u8() throws IOException {
            take(1);
            return in.readUnsignedByte();
        }

        String text() throws IOException {
            return new String(bytes(), StandardCharsets.UTF_8);
        }

        byte[] bytes() throws IOException {
            take(4);
            int n = in.readInt();
            if (n < 0 || n > left) {
                throw new IOException("a length of " + n + " runs past the frame");
            }
            take(n);
            byte[] data = new byte[n];
            in.readFully(data);
            return data;
        }

        private int count() throws IOException {
            take(4);
            int n = in.readInt();
            if (n < 0 || n > left) {
                throw new IOException("a count of " + n + " runs past the frame");
            }
            return n;
        }

        private void take(int n) throws IOException {
            if (n > left) {
                throw new IOException("the frame ends inside a value");
            }
            left -= n;
        }
    }

    /** A Python object that cannot live in the JVM: it stays in Python and comes back as itself. */
    static final class PyRef {
        final long id;
        final String type;
        final String text;

        PyRef(long id, String type, String text) {
            this.id = id;
            this.type = type;
            this.text = text;
        }

        @Override
        public String toString() {
            return text;
        }
    }
}
