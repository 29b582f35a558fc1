package mlci

/**
 * Shell quoting for every value the library places in an `sh` script.
 * Same rule as Python's shlex.quote (tests compare the two): words made only of safe
 * characters stay bare so commands read naturally; anything else is single-quoted, with
 * each embedded ' written as '"'"'. Pure functions, no pipeline steps: safe under CPS.
 */
class Shell implements Serializable {
    private static final String SAFE = /[A-Za-z0-9_@%+=:,.\/-]+/

    static String quote(Object value) {
        String text = value == null ? '' : value.toString()
        if (text.isEmpty()) {
            return "''"
        }
        if (text ==~ SAFE) {
            return text
        }
        return "'" + text.replace("'", "'\"'\"'") + "'"
    }
}
