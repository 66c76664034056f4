package javax.mail.util;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

import javax.activation.DataSource;

/**
 * Bytes as a {@link DataSource}: how CPI scripts usually build an attachment.
 *
 * <p>The JavaMail class of that name, in the compatible subset cpimock ships with its
 * {@code javax.activation} classes.
 */
public class ByteArrayDataSource implements DataSource {
    private final byte[] data;
    private final String type;
    private String name = "";

    public ByteArrayDataSource(byte[] data, String type) {
        this.data = data == null ? new byte[0] : data;
        this.type = type;
    }

    public ByteArrayDataSource(InputStream in, String type) throws IOException {
        this(in.readAllBytes(), type);
    }

    public ByteArrayDataSource(String data, String type) {
        this(data.getBytes(charsetOf(type)), type);
    }

    private static java.nio.charset.Charset charsetOf(String type) {
        if (type != null) {
            for (String part : type.split(";")) {
                String[] pair = part.trim().split("=", 2);
                if (pair.length == 2 && pair[0].trim().equalsIgnoreCase("charset")) {
                    try {
                        return java.nio.charset.Charset.forName(pair[1].trim().replace("\"", ""));
                    } catch (IllegalArgumentException unknown) {
                        break;
                    }
                }
            }
        }
        return StandardCharsets.UTF_8;
    }

    @Override
    public InputStream getInputStream() {
        return new ByteArrayInputStream(data);
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
        throw new IOException("cannot write to a ByteArrayDataSource");
    }

    @Override
    public String getContentType() {
        return type;
    }

    @Override
    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }
}
