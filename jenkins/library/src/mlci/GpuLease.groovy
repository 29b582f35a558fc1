package mlci

/**
 * Turns the lockable resources a `lock` step granted (`<host>-gpu<i>`, comma-separated in the
 * lock's variable) into the device indexes `mlci run --gpus` expects: "0,1", or "device=0" for one
 * GPU (`mlci run` refuses a bare number: Docker and project.yaml read `2` as a count, so the CLI
 * asks for `count=N` or `device=N`).
 */
class GpuLease implements Serializable {
    static String label(String host) {
        return 'gpu@' + host
    }

    /** The per-host resource every GPU request passes first (see mlciTrain); lock creates it on first use. */
    static String turnstile(String host) {
        return host + '-gpu-turnstile'
    }

    /** Device indexes, ascending; throws IllegalArgumentException for a resource of another host. */
    static String devices(String locked, String host) {
        String prefix = host + '-gpu'
        List<Integer> indexes = []
        for (String name : (locked ?: '').split(',')) {
            String resource = name.trim()
            if (resource.isEmpty()) {
                continue
            }
            String index = resource.startsWith(prefix) ? resource.substring(prefix.length()) : ''
            if (!(index ==~ /[0-9]{1,3}/)) {
                throw new IllegalArgumentException(
                    "lockable resource '${resource}' is not named ${prefix}<index>: rename it in the Jenkins " +
                    'configuration (mlci render writes one per GPU of each host)')
            }
            indexes.add(Integer.valueOf(index))
        }
        if (indexes.isEmpty()) {
            throw new IllegalArgumentException("the lock on ${label(host)} granted no GPU")
        }
        Collections.sort(indexes)
        return indexes.size() == 1 ? 'device=' + indexes[0] : indexes.join(',')
    }
}
