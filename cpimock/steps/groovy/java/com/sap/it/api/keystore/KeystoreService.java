package com.sap.it.api.keystore;

import java.security.Key;
import java.security.KeyPair;
import java.security.cert.Certificate;

import com.sap.it.api.ITApi;
import com.sap.it.api.keystore.exception.KeystoreException;

/** The tenant keystore's certificates and keys by alias. */
public interface KeystoreService extends ITApi {
    Certificate getCertificate(String alias) throws KeystoreException;

    Key getKey(String alias) throws KeystoreException;

    KeyPair getKeyPair(String alias) throws KeystoreException;
}
