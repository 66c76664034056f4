package com.sap.it.api.pd;

import java.util.List;

import com.sap.it.api.ITApi;
import com.sap.it.api.pd.exception.PartnerDirectoryException;

/** The tenant's partner directory: parameters per partner, alternative partner ids, authorized users. */
public interface PartnerDirectoryService extends ITApi {
    <T> T getParameter(String parameterId, String partnerId, Class<T> type) throws PartnerDirectoryException;

    String getPartnerId(String agency, String scheme, String alternativePartnerId) throws PartnerDirectoryException;

    String getAlternativePartnerId(String agency, String scheme, String partnerId) throws PartnerDirectoryException;

    List<String> getAuthorizedUsers(String partnerId) throws PartnerDirectoryException;

    String getPartnerIdOfAuthorizedUser(String user) throws PartnerDirectoryException;
}
