package javax.activation;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;

/**
 * An attachment's content: a {@link DataSource}, or an object with its MIME type.
 *
 * <p>A compatible subset of the JavaBeans Activation Framework class (not part of Java 17).
 * Unlike the framework without JavaMail's content handlers, a {@code String} or {@code byte[]}
 * object can be read as a stream here: the string in the MIME type's charset (else UTF-8).
 */
public class DataHandler {
    private final DataSource dataSource;
    private final Object object;
    private final String mimeType;

    public DataHandler(DataSource dataSource) {
        if (dataSource == null) {
            throw new NullPointerException("DataHandler: the DataSource is null");
        }
        this.dataSource = dataSource;
        this.object = null;
        this.mimeType = null;
    }

    public DataHandler(Object object, String mimeType) {
        this.dataSource = null;
        this.object = object;
        this.mimeType = mimeType;
    }

    public DataSource getDataSource() {
        if (dataSource != null) {
            return dataSource;
        }
        final DataHandler self = this;
        return new DataSource() {
            @Override
            public InputStream getInputStream() throws IOException {
                return self.getInputStream();
            }

            @Override
            public OutputStream getOutputStream() throws IOException {
                throw new IOException("this DataHandler's content cannot be written");
            }

            @Override
            public String getContentType() {
                return self.getContentType();
            }

            @Override
            public String getName() {
                return null;
            }
        };
    }

    public String getName() {
        return dataSource != null ? dataSource.getName() : null;
    }

    public String getContentType() {
        return dataSource != null ? dataSource.getContentType() : mimeType;
    }

    public InputStream getInputStream() throws IOException {
        if (dataSource != null) {
            return dataSource.getInputStream();
        }
        if (object instanceof byte[]) {
            return new ByteArrayInputStream((byte[]) object);
        }
        if (object instanceof String) {
            return new ByteArrayInputStream(((String) object).getBytes(charset(mimeType)));
        }
        if (object instanceof InputStream) {
            return (InputStream) object;
        }
        throw new UnsupportedDataTypeException("no data content handler for " + typeName(object) + " with MIME type "
                + mimeType + "; give the DataHandler a String, a byte[] or a DataSource");
    }

    /** The content: the object given, or the data source's stream. */
    public Object getContent() throws IOException {
        return dataSource != null ? dataSource.getInputStream() : object;
    }

    public void writeTo(OutputStream out) throws IOException {
        try (InputStream in = getInputStream()) {
            in.transferTo(out);
        }
    }

    public OutputStream getOutputStream() throws IOException {
        return dataSource != null ? dataSource.getOutputStream() : null;
    }

    private static String typeName(Object object) {
        return object == null ? "null" : object.getClass().getName();
    }

    static Charset charset(String mimeType) {
        if (mimeType != null) {
            for (String part : mimeType.split(";")) {
                String[] pair = part.trim().split("=", 2);
                if (pair.length == 2 && pair[0].trim().equalsIgnoreCase("charset")) {
                    try {
                        return Charset.forName(pair[1].trim().replace("\"", ""));
                    } catch (IllegalArgumentException unknown) {
                        return StandardCharsets.UTF_8;
                    }
                }
            }
        }
        return StandardCharsets.UTF_8;
    }
}
