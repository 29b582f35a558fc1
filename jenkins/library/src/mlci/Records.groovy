package mlci

/** What the library needs to know about `status.json`: which overall states are final. */
class Records implements Serializable {
    static final List<String> FINAL = ['Succeeded', 'Failed', 'Build Failed', 'Cancelled', 'Interrupted']

    static boolean isFinal(Object status) {
        return status instanceof Map && FINAL.contains(((Map) status).overallStatus)
    }
}
