import java.io.FileInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Posts one IDoc file as an S/4 XML-HTTP port does, with the JDK's own HttpClient: the client
 * certificate from a PKCS#12 file (the .pfx of `servicekey extract --pfx`), the server trusted
 * through a PEM CA bundle. Prints the status line, then the body.
 *
 * <p>Usage: java PostIdoc.java URL PFX|- PASSWORD CA_PEM CONTENT_TYPE FILE
 */
public class PostIdoc {
    public static void main(String[] args) throws Exception {
        String url = args[0], pfx = args[1], password = args[2], ca = args[3], contentType = args[4];
        byte[] body = Files.readAllBytes(Path.of(args[5]));

        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        KeyStore identity = KeyStore.getInstance("PKCS12");
        if (pfx.equals("-")) {
            identity.load(null, null); // no client certificate at all
        } else {
            try (FileInputStream in = new FileInputStream(pfx)) {
                identity.load(in, password.toCharArray());
            }
        }
        keys.init(identity, password.toCharArray());

        KeyStore trusted = KeyStore.getInstance(KeyStore.getDefaultType());
        trusted.load(null, null);
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        int n = 0;
        try (FileInputStream in = new FileInputStream(ca)) {
            for (Certificate cert : factory.generateCertificates(in)) {
                trusted.setCertificateEntry("ca" + n++, cert);
            }
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(trusted);

        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(keys.getKeyManagers(), trust.getTrustManagers(), null);
        HttpClient client = HttpClient.newBuilder()
            .sslContext(tls)
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(20))
            .build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(url))
            .header("Content-Type", contentType)
            .timeout(Duration.ofSeconds(30))
            .POST(HttpRequest.BodyPublishers.ofByteArray(body))
            .build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println("HTTP " + response.statusCode());
        System.out.println(response.body());
    }
}
