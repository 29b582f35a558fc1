"""What Slack messages say, in English and Japanese (`locale:` in mlci.yaml).

The Japanese is written for the team reading it in a channel, in the vocabulary of the dashboard
(ジョブ, ステータス, 成果物, ゲート); status names come from the dashboard's catalogue, so a
run reads the same in both places.
"""

from __future__ import annotations

from mlci.web.i18n import status_label
from mlci.web.messages import Lang

# {project}, {job} (with its own lead-in, empty when there is no job)
HEADLINES: dict[str, dict[Lang, str]] = {
    "started": {"en": "🚀 {project}{job} started", "ja": "🚀 {project} の学習を開始しました{job}"},
    "succeeded": {"en": "✅ {project}{job} succeeded", "ja": "✅ {project} の学習が成功しました{job}"},
    "failed": {"en": "❌ {project}{job} failed", "ja": "❌ {project} の学習が失敗しました{job}"},
    "cancelled": {"en": "⏹️ {project}{job} was cancelled", "ja": "⏹️ {project} の学習は中止されました{job}"},
    "approval": {"en": "✋ {project}{job} is waiting for approval", "ja": "✋ {project} の公開が承認待ちです{job}"},
}
JOB_IN_HEADLINE: dict[Lang, str] = {"en": " run {job}", "ja": "（ジョブ {job}）"}

# Promotions and deployments (Jenkins' mlci-promote and mlci-deploy): {project}, {version}, {env}
ENV_HEADLINES: dict[str, dict[Lang, str]] = {
    "promotion-approval": {
        "en": "✋ {project} {version} to {env} is waiting for approval",
        "ja": "✋ {project} {version} の {env} への昇格が承認待ちです",
    },
    "promoted": {
        "en": "✅ {project} {version} promoted to {env}",
        "ja": "✅ {project} {version} を {env} に昇格しました",
    },
    "promotion-failed": {
        "en": "❌ promoting {project} {version} to {env} failed",
        "ja": "❌ {project} {version} の {env} への昇格が失敗しました",
    },
    "promotion-cancelled": {
        "en": "⏹️ promoting {project} {version} to {env} was cancelled",
        "ja": "⏹️ {project} {version} の {env} への昇格は中止されました",
    },
    "deployed": {
        "en": "🚢 {project} {version} deployed to {env}",
        "ja": "🚢 {project} {version} を {env} にデプロイしました",
    },
    "deploy-failed": {
        "en": "❌ deploying {project} {version} to {env} failed",
        "ja": "❌ {project} {version} の {env} へのデプロイが失敗しました",
    },
    "deploy-cancelled": {
        "en": "⏹️ deploying {project} {version} to {env} was cancelled",
        "ja": "⏹️ {project} {version} の {env} へのデプロイは中止されました",
    },
}

TEXT: dict[str, dict[Lang, str]] = {
    "project": {"en": "Project", "ja": "プロジェクト"},
    "status": {"en": "Status", "ja": "ステータス"},
    "job": {"en": "Job", "ja": "ジョブ"},
    "attempts": {"en": "Attempts", "ja": "試行回数"},
    "gate": {"en": "Gate", "ja": "ゲート"},
    "commit": {"en": "Commit", "ja": "コミット"},
    "passed": {"en": "passed", "ja": "合格"},
    "failed": {"en": "failed", "ja": "不合格"},
    "delta": {"en": "  ({arrow} {delta} from {before})", "ja": "  （前回 {before} から {arrow} {delta}）"},
    "new": {"en": "  (new)", "ja": "  （新規）"},
    "compared": {"en": "_compared with published run {job}_", "ja": "_公開済みの前回のジョブ {job} との比較_"},
    "error": {"en": "*Error*: {error}", "ja": "*エラー*: {error}"},
    "approve": {"en": "Approve or reject", "ja": "承認・却下する"},
    "build": {"en": "Jenkins build", "ja": "Jenkins のビルド"},
    "artifacts": {"en": "Artifacts", "ja": "成果物"},
    "artifacts_at": {"en": "Artifacts: `{url}`", "ja": "成果物: `{url}`"},
    "version": {"en": "Version", "ja": "バージョン"},
    "env": {"en": "Environment", "ja": "環境"},
    "previous": {"en": "Previous version", "ja": "以前のバージョン"},
    "by": {"en": "By", "ja": "実行者"},
    "none": {"en": "none", "ja": "なし"},
    "current": {"en": "(the current version)", "ja": "（現行バージョン）"},
}


def text(lang: Lang, key: str, **values: object) -> str:
    template = TEXT[key][lang]
    return template.format(**values) if values else template


def headline(lang: Lang, event: str, project: str, job: str | None) -> str:
    lead_in = JOB_IN_HEADLINE[lang].format(job=job) if job else ""
    return HEADLINES[event][lang].format(project=project, job=lead_in)


def env_headline(lang: Lang, event: str, project: str, version: str | None, env: str) -> str:
    shown = version or text(lang, "current")
    return ENV_HEADLINES[event][lang].format(project=project, version=shown, env=env)


def status(lang: Lang, value: str) -> str:
    return status_label(lang, value)
