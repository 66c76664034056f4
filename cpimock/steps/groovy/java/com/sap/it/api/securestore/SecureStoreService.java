package com.sap.it.api.securestore;

import com.sap.it.api.ITApi;
import com.sap.it.api.securestore.exception.SecureStoreException;

/** The tenant's security material: user credentials and secure parameters by alias. */
public interface SecureStoreService extends ITApi {
    UserCredential getUserCredential(String alias) throws SecureStoreException;

    AccessTokenAndUser getAccesTokenForOauth2AuthorizationCodeCredential(String alias) throws SecureStoreException;
}
