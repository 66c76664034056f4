package cpimock.jvm;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.Charset;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;

import org.w3c.dom.Document;
import org.w3c.dom.Node;
import org.xml.sax.InputSource;

/** The type conversions Camel makes for {@code getBody(Class)} and {@code getHeader(name, Class)}. */
final class Convert {
    private Convert() {
    }

    @SuppressWarnings("unchecked")
    static <T> T to(Object value, Class<T> wanted, Charset charset, String what) {
        if (value == null || wanted == null) {
            return (T) value;
        }
        Class<?> type = boxed(wanted);
        if (type.isInstance(value)) {
            return (T) value;
        }
        try {
            Object result = convert(value, type, charset);
            if (result != null) {
                return (T) result;
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("cpimock cannot convert " + what + " (" + shown(value) + ") to "
                    + wanted.getName() + ": not a number");
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + what + " failed: " + e.getMessage(), e);
        }
        throw new UnsupportedOperationException("cpimock cannot convert " + what + " (" + value.getClass().getName()
                + ") to " + wanted.getName() + "; read it as String, byte[], InputStream, Reader or org.w3c.dom.Document");
    }

    private static Object convert(Object value, Class<?> type, Charset charset) throws IOException {
        if (type == String.class || type == CharSequence.class) {
            return text(value, charset);
        }
        if (type == byte[].class) {
            return bytes(value, charset);
        }
        if (type == InputStream.class || type == ByteArrayInputStream.class) {
            return new ByteArrayInputStream(bytes(value, charset));
        }
        if (type == Reader.class || type == BufferedReader.class) {
            return new BufferedReader(new StringReader(text(value, charset)));
        }
        if (Node.class.isAssignableFrom(type) && type.isAssignableFrom(Document.class)) {
            return parse(text(value, charset));
        }
        if (type == org.w3c.dom.Element.class) {
            return parse(text(value, charset)).getDocumentElement();
        }
        if (Number.class.isAssignableFrom(type) || type == Boolean.class || type == Character.class) {
            return scalar(value, type, charset);
        }
        return null;
    }

    private static Object scalar(Object value, Class<?> type, Charset charset) throws IOException {
        if (value instanceof Number) {
            Number n = (Number) value;
            if (type == Integer.class) {
                return n.intValue();
            } else if (type == Long.class) {
                return n.longValue();
            } else if (type == Double.class) {
                return n.doubleValue();
            } else if (type == Float.class) {
                return n.floatValue();
            } else if (type == Short.class) {
                return n.shortValue();
            } else if (type == Byte.class) {
                return n.byteValue();
            }
        }
        String s = text(value, charset).trim();
        if (type == Integer.class) {
            return Integer.valueOf(s);
        } else if (type == Long.class) {
            return Long.valueOf(s);
        } else if (type == Double.class) {
            return Double.valueOf(s);
        } else if (type == Float.class) {
            return Float.valueOf(s);
        } else if (type == Short.class) {
            return Short.valueOf(s);
        } else if (type == Byte.class) {
            return Byte.valueOf(s);
        } else if (type == BigDecimal.class || type == Number.class) {
            return new BigDecimal(s);
        } else if (type == BigInteger.class) {
            return new BigInteger(s);
        } else if (type == Boolean.class) {
            return Boolean.valueOf(s);
        } else if (type == Character.class && s.length() == 1) {
            return s.charAt(0);
        }
        return null;
    }

    static String text(Object value, Charset charset) throws IOException {
        if (value instanceof byte[]) {
            return new String((byte[]) value, charset);
        }
        if (value instanceof InputStream) {
            return new String(((InputStream) value).readAllBytes(), charset);
        }
        if (value instanceof Reader) {
            StringBuilder out = new StringBuilder();
            char[] buffer = new char[8192];
            int n;
            while ((n = ((Reader) value).read(buffer)) > 0) {
                out.append(buffer, 0, n);
            }
            return out.toString();
        }
        if (value instanceof Node) {
            return serialize((Node) value);
        }
        return value.toString();
    }

    static byte[] bytes(Object value, Charset charset) throws IOException {
        if (value instanceof byte[]) {
            return (byte[]) value;
        }
        if (value instanceof InputStream) {
            return ((InputStream) value).readAllBytes();
        }
        return text(value, charset).getBytes(charset);
    }

    /** XML from a message: namespace-aware, with DTDs and external entities refused. */
    static Document parse(String data) throws IOException {
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setNamespaceAware(true);
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setXIncludeAware(false);
            factory.setExpandEntityReferences(false);
            DocumentBuilder builder = factory.newDocumentBuilder();
            builder.setErrorHandler(null);
            // from characters: the message's charset has decoded them, whatever the declaration says
            return builder.parse(new InputSource(new StringReader(data)));
        } catch (org.xml.sax.SAXException e) {
            throw new IllegalArgumentException("the body is not XML that cpimock reads: " + e.getMessage(), e);
        } catch (javax.xml.parsers.ParserConfigurationException e) {
            throw new IllegalStateException(e);
        }
    }

    static String serialize(Node node) {
        try {
            TransformerFactory factory = TransformerFactory.newInstance();
            factory.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
            factory.setAttribute(XMLConstants.ACCESS_EXTERNAL_STYLESHEET, "");
            Transformer transformer = factory.newTransformer();
            transformer.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            transformer.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
            transformer.transform(new DOMSource(node), new StreamResult(out));
            return out.toString(java.nio.charset.StandardCharsets.UTF_8);
        } catch (javax.xml.transform.TransformerException e) {
            throw new IllegalArgumentException("cannot write the XML node: " + e.getMessage(), e);
        }
    }

    private static Class<?> boxed(Class<?> type) {
        if (!type.isPrimitive()) {
            return type;
        }
        if (type == int.class) {
            return Integer.class;
        } else if (type == long.class) {
            return Long.class;
        } else if (type == double.class) {
            return Double.class;
        } else if (type == float.class) {
            return Float.class;
        } else if (type == boolean.class) {
            return Boolean.class;
        } else if (type == short.class) {
            return Short.class;
        } else if (type == byte.class) {
            return Byte.class;
        } else if (type == char.class) {
            return Character.class;
        }
        return type;
    }

    private static String shown(Object value) {
        String s = String.valueOf(value);
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }
}
