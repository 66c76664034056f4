package javax.activation;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * The JavaBeans Activation Framework's data source, as attachments use it.
 *
 * <p>cpimock ships this small compatible subset because Java 17 no longer includes
 * {@code javax.activation}; it covers what CPI scripts do with attachments.
 */
public interface DataSource {
    InputStream getInputStream() throws IOException;

    OutputStream getOutputStream() throws IOException;

    String getContentType();

    String getName();
}
