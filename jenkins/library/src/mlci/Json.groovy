package mlci

import groovy.json.JsonSlurperClassic

/**
 * JSON text → plain HashMap/ArrayList (serializable, so CPS can checkpoint them), with Groovy's
 * own JsonSlurperClassic: no pipeline-utility-steps plugin needed, and no LazyMap (JsonSlurper's
 * lazy maps are not serializable and break a pipeline at its next step).
 */
class Json implements Serializable {
    static Object parse(String text) {
        return new JsonSlurperClassic().parseText(text)
    }
}
