package com.sap.it.api.mapping;

import java.util.List;

import com.sap.it.api.ITApi;

/** The tenant's value mappings: a value of one agency and identifier mapped to another's. */
public interface ValueMappingApi extends ITApi {
    String getMappedValue(String sourceAgency, String sourceIdentifier, String sourceValue, String targetAgency,
            String targetIdentifier);

    List<String> getMappedValues(String sourceAgency, String sourceIdentifier, String sourceValue,
            String targetAgency, String targetIdentifier);
}
