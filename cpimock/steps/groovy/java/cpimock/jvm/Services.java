package cpimock.jvm;

import java.io.ByteArrayInputStream;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import com.sap.it.api.keystore.KeystoreService;
import com.sap.it.api.keystore.exception.KeystoreException;
import com.sap.it.api.mapping.ValueMappingApi;
import com.sap.it.api.pd.BinaryData;
import com.sap.it.api.pd.PartnerDirectoryService;
import com.sap.it.api.pd.exception.PartnerDirectoryException;
import com.sap.it.api.securestore.AccessTokenAndUser;
import com.sap.it.api.securestore.SecureStoreService;
import com.sap.it.api.securestore.UserCredential;
import com.sap.it.api.securestore.exception.SecureStoreException;

/**
 * The services {@code ITApiFactory} hands out, backed by the settings Python sent (read from the
 * workspace's files by settings.py). A call sees the settings its step was given.
 */
public final class Services {
    private static final Map<String, Map<?, ?>> SETTINGS = new ConcurrentHashMap<>();
    private static final InheritableThreadLocal<Map<?, ?>> CURRENT = new InheritableThreadLocal<>();

    private Services() {
    }

    static void store(String key, Map<?, ?> settings) {
        SETTINGS.put(key, settings);
    }

    static Map<?, ?> settings(String key) {
        return key == null ? null : SETTINGS.get(key);
    }

    static void enter(Map<?, ?> settings) {
        CURRENT.set(settings == null ? Collections.emptyMap() : settings);
    }

    static void leave() {
        CURRENT.remove();
    }

    public static <T> T lookup(Class<T> type, String method) {
        Map<?, ?> settings = CURRENT.get();
        if (settings == null) {
            throw new IllegalStateException("ITApiFactory." + method + " is only available while a script runs");
        }
        Object service;
        if (type == SecureStoreService.class) {
            service = new SecureStore(table(settings, "secure_store"));
        } else if (type == ValueMappingApi.class) {
            service = new ValueMappings(list(settings, "value_mappings"));
        } else if (type == PartnerDirectoryService.class) {
            service = new PartnerDirectory(table(settings, "partners"));
        } else if (type == KeystoreService.class) {
            service = new Keystore(table(settings, "keystore"));
        } else {
            throw new UnsupportedOperationException("cpimock does not support ITApiFactory." + method + "("
                    + (type == null ? "null" : type.getName()) + "); it offers SecureStoreService, ValueMappingApi,"
                    + " PartnerDirectoryService and KeystoreService");
        }
        return type.cast(service);
    }

    private static Map<?, ?> table(Map<?, ?> map, String key) {
        Object value = map == null ? null : map.get(key);
        return value instanceof Map ? (Map<?, ?>) value : Collections.emptyMap();
    }

    private static List<?> list(Map<?, ?> map, String key) {
        Object value = map == null ? null : map.get(key);
        return value instanceof List ? (List<?>) value : Collections.emptyList();
    }

    private static String string(Map<?, ?> map, String key) {
        Object value = map.get(key);
        return value == null ? null : value.toString();
    }

    static final class SecureStore implements SecureStoreService {
        private final Map<?, ?> aliases;

        SecureStore(Map<?, ?> aliases) {
            this.aliases = aliases;
        }

        private Map<?, ?> entry(String alias) throws SecureStoreException {
            Object entry = aliases.get(alias);
            if (!(entry instanceof Map)) {
                throw new SecureStoreException("No credential is deployed under the alias '" + alias
                        + "' (cpimock: add it to the workspace's secure-store.toml)");
            }
            return (Map<?, ?>) entry;
        }

        @Override
        public UserCredential getUserCredential(String alias) throws SecureStoreException {
            Map<?, ?> entry = entry(alias);
            String user = string(entry, "user");
            String password = string(entry, "password");
            Map<String, String> properties = new LinkedHashMap<>();
            for (Map.Entry<?, ?> p : table(entry, "properties").entrySet()) {
                properties.put(String.valueOf(p.getKey()), String.valueOf(p.getValue()));
            }
            return new UserCredential() {
                @Override
                public String getUsername() {
                    return user;
                }

                @Override
                public char[] getPassword() {
                    return password == null ? null : password.toCharArray();
                }

                @Override
                public Map<String, String> getCredentialProperties() {
                    return Collections.unmodifiableMap(properties);
                }

                @Override
                public String toString() {
                    return "UserCredential[" + alias + "]";
                }
            };
        }

        @Override
        public AccessTokenAndUser getAccesTokenForOauth2AuthorizationCodeCredential(String alias)
                throws SecureStoreException {
            Map<?, ?> entry = entry(alias);
            String token = string(entry, "access_token");
            if (token == null) {
                throw new SecureStoreException("The credential '" + alias + "' holds no OAuth2 access token"
                        + " (cpimock: give it access_token in secure-store.toml)");
            }
            String user = string(entry, "user");
            return new AccessTokenAndUser() {
                @Override
                public String getAccessToken() {
                    return token;
                }

                @Override
                public String getUser() {
                    return user;
                }
            };
        }
    }

    static final class ValueMappings implements ValueMappingApi {
        private final List<?> groups;

        ValueMappings(List<?> groups) {
            this.groups = groups;
        }

        @Override
        public String getMappedValue(String sourceAgency, String sourceIdentifier, String sourceValue,
                String targetAgency, String targetIdentifier) {
            List<String> values = getMappedValues(sourceAgency, sourceIdentifier, sourceValue, targetAgency,
                    targetIdentifier);
            return values.isEmpty() ? null : values.get(0);
        }

        @Override
        public List<String> getMappedValues(String sourceAgency, String sourceIdentifier, String sourceValue,
                String targetAgency, String targetIdentifier) {
            List<String> found = new ArrayList<>();
            for (Object group : groups) {
                List<?> entries = (List<?>) group;
                if (find(entries, sourceAgency, sourceIdentifier, sourceValue) != null) {
                    List<?> target = find(entries, targetAgency, targetIdentifier, null);
                    if (target != null && !found.contains(String.valueOf(target.get(2)))) {
                        found.add(String.valueOf(target.get(2)));
                    }
                }
            }
            if (found.isEmpty()) {
                // no group holds the source value: the target's default, if one is marked
                for (Object group : groups) {
                    List<?> target = find((List<?>) group, targetAgency, targetIdentifier, null);
                    if (target != null && Boolean.TRUE.equals(target.get(3))) {
                        found.add(String.valueOf(target.get(2)));
                        break;
                    }
                }
            }
            return found;
        }

        private static List<?> find(List<?> entries, String agency, String identifier, String value) {
            for (Object item : entries) {
                List<?> entry = (List<?>) item;
                if (String.valueOf(entry.get(0)).equals(agency) && String.valueOf(entry.get(1)).equals(identifier)
                        && (value == null || String.valueOf(entry.get(2)).equals(value))) {
                    return entry;
                }
            }
            return null;
        }
    }

    static final class PartnerDirectory implements PartnerDirectoryService {
        private final Map<?, ?> partners;

        PartnerDirectory(Map<?, ?> partners) {
            this.partners = partners;
        }

        @Override
        public <T> T getParameter(String parameterId, String partnerId, Class<T> type)
                throws PartnerDirectoryException {
            Map<?, ?> partner = table(partners, partnerId);
            Object text = table(partner, "parameters").get(parameterId);
            Object binary = table(partner, "binary").get(parameterId);
            if (type == String.class) {
                if (text == null && binary != null) {
                    throw new PartnerDirectoryException("Parameter '" + parameterId + "' of partner '" + partnerId
                            + "' is binary; read it with BinaryData.class");
                }
                return type.cast(text == null ? null : text.toString());
            }
            if (type == BinaryData.class) {
                if (binary == null && text != null) {
                    throw new PartnerDirectoryException("Parameter '" + parameterId + "' of partner '" + partnerId
                            + "' is a string; read it with String.class");
                }
                if (binary == null) {
                    return null;
                }
                List<?> pair = (List<?>) binary;
                return type.cast(new BinaryData((byte[]) pair.get(0), (String) pair.get(1)));
            }
            throw new PartnerDirectoryException("Parameters are read as String or BinaryData, not "
                    + (type == null ? "null" : type.getName()));
        }

        @Override
        public String getPartnerId(String agency, String scheme, String alternativePartnerId) {
            for (Map.Entry<?, ?> partner : partners.entrySet()) {
                for (Object item : list((Map<?, ?>) partner.getValue(), "alternative_ids")) {
                    List<?> id = (List<?>) item;
                    if (id.get(0).equals(agency) && id.get(1).equals(scheme) && id.get(2).equals(alternativePartnerId)) {
                        return String.valueOf(partner.getKey());
                    }
                }
            }
            return null;
        }

        @Override
        public String getAlternativePartnerId(String agency, String scheme, String partnerId) {
            for (Object item : list(table(partners, partnerId), "alternative_ids")) {
                List<?> id = (List<?>) item;
                if (id.get(0).equals(agency) && id.get(1).equals(scheme)) {
                    return String.valueOf(id.get(2));
                }
            }
            return null;
        }

        @Override
        public List<String> getAuthorizedUsers(String partnerId) {
            List<String> users = new ArrayList<>();
            for (Object user : list(table(partners, partnerId), "users")) {
                users.add(String.valueOf(user));
            }
            return users;
        }

        @Override
        public String getPartnerIdOfAuthorizedUser(String user) {
            for (Map.Entry<?, ?> partner : partners.entrySet()) {
                if (list((Map<?, ?>) partner.getValue(), "users").contains(user)) {
                    return String.valueOf(partner.getKey());
                }
            }
            return null;
        }
    }

    static final class Keystore implements KeystoreService {
        private final Map<?, ?> aliases;

        Keystore(Map<?, ?> aliases) {
            this.aliases = aliases;
        }

        private Map<?, ?> entry(String alias) throws KeystoreException {
            Object entry = aliases.get(alias);
            if (!(entry instanceof Map)) {
                throw new KeystoreException("No entry with the alias '" + alias + "' in the keystore (cpimock: "
                        + "the workspace's certs/*.pem and keystore/*.pem; known: " + aliases.keySet() + ")");
            }
            return (Map<?, ?>) entry;
        }

        @Override
        public Certificate getCertificate(String alias) throws KeystoreException {
            List<?> chain = list(entry(alias), "certificates");
            if (chain.isEmpty()) {
                throw new KeystoreException("The keystore entry '" + alias + "' holds no certificate");
            }
            try {
                CertificateFactory factory = CertificateFactory.getInstance("X.509");
                return factory.generateCertificate(new ByteArrayInputStream((byte[]) chain.get(0)));
            } catch (GeneralSecurityException e) {
                throw new KeystoreException("The certificate of '" + alias + "' cannot be read: " + e.getMessage());
            }
        }

        @Override
        public Key getKey(String alias) throws KeystoreException {
            Map<?, ?> entry = entry(alias);
            Object der = entry.get("key");
            if (!(der instanceof byte[])) {
                throw new KeystoreException("The keystore entry '" + alias + "' holds no private key");
            }
            try {
                KeyFactory factory = KeyFactory.getInstance(String.valueOf(entry.get("algorithm")));
                PrivateKey key = factory.generatePrivate(new PKCS8EncodedKeySpec((byte[]) der));
                return key;
            } catch (GeneralSecurityException e) {
                throw new KeystoreException("The private key of '" + alias + "' cannot be read: " + e.getMessage());
            }
        }

        @Override
        public KeyPair getKeyPair(String alias) throws KeystoreException {
            return new KeyPair(getCertificate(alias).getPublicKey(), (PrivateKey) getKey(alias));
        }
    }
}
