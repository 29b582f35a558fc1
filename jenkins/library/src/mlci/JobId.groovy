package mlci

/**
 * The job id of one project's run in one Jenkins build: `<commit12>-<job>-<build>`, e.g.
 * `3f2a9c1d5e7b-mlci-release-42`. Unique across every Jenkins job and rebuild (job name + build
 * number), and still traceable to the commit, as the ids of local runs are. Stores refuse to
 * re-publish different content under an existing id, so ids must never repeat.
 */
class JobId implements Serializable {
    static String of(Object commit, Object jobName, Object buildNumber) {
        String sha = commit == null ? '' : commit.toString()
        if (!(sha ==~ /[0-9a-f]{40}([0-9a-f]{24})?/)) {
            throw new IllegalArgumentException("commit ${sha} is not a commit sha")
        }
        String number = buildNumber == null ? '' : buildNumber.toString()
        if (!(number ==~ /[0-9]{1,10}/)) {
            throw new IllegalArgumentException("BUILD_NUMBER ${number} is not a build number")
        }
        // Folders (a/b) and other characters a job id may not hold become dashes.
        String job = (jobName == null ? '' : jobName.toString()).replaceAll(/[^A-Za-z0-9._]+/, '-')
        job = job.replaceAll(/^[-._]+|[-._]+$/, '')
        if (job.length() > 80) {
            job = job.substring(0, 80)
        }
        return sha.substring(0, 12) + '-' + (job ?: 'job') + '-' + number
    }
}
