"""Labels in Simplified Chinese and English; `--lang` picks, the locale is the default."""
from __future__ import annotations

import locale
import os

LABELS: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "agent": ("工号", "Agent"), "name": ("姓名", "Name"), "team": ("班组", "Team"),
    "recording": ("录音", "Recording"), "text": ("文本", "Text"), "aht": ("平均时长", "AHT"),
    "performance": ("工作业绩", "Performance"), "satisfaction": ("满意率", "Satisfaction"),
    "exam": ("业务考试", "Exam"), "utilization": ("工时利用率", "Utilization"),
    "answer_rate": ("接通率", "Answer rate"), "site": ("现场管理", "Floor"),
    "adjustments": ("加减分", "Adj."), "score": ("总分", "Score"), "star": ("星级", "Star"),
    "offered": ("分配", "Offered"), "answered": ("接通", "Answered"),
    "aht_s": ("均时(秒)", "AHT s"), "deductions": ("扣分", "Deductions"),
    "busy_over_30": ("示忙超30分钟", "busy over 30 min"),
    "late_sign_in": ("迟到", "late sign-in"), "late_return": ("休息未按时签入", "late return"),
    "early_leave": ("早退", "early leave"), "absent": ("旷工", "absent"),
    "floor": ("现场违规", "floor rule"), "probation": ("试用期", "probation"),
    "unknown": ("不在花名册", "not in roster"), "no_star": ("无星级", "no star"),
    "report_title": ("{site} 客服考核 {month}(截至 {as_of})", "{site} appraisal {month} (as of {as_of})"),
    "rejected_lines": ("{n} 行被拒绝(见标准错误输出)", "{n} line(s) rejected (see stderr)"),
    "excused": ("已申诉撤销", "excused"),
    "ready": ("示闲", "ready"), "busy": ("示忙", "busy"), "out": ("签出", "signed out"),
    "ringing": ("振铃", "ringing"), "talking": ("通话", "talking"), "wrap": ("话后", "wrap-up"),
    "day": ("日期", "Day"), "time": ("时间", "Time"), "rule": ("规则", "Rule"),
    "item": ("考核项", "Item"), "points": ("分值", "Points"),
    "missing": ("未签入", "missing"), "late": ("迟到", "late"), "left_early": ("早退", "left early"),
}


def default_lang() -> str:
    for var in ("KEFU_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        v = os.environ.get(var)
        if v:
            return "zh" if v.lower().startswith("zh") else "en"
    loc = locale.getlocale()[0] or ""
    return "zh" if loc.lower().startswith("zh") else "en"


def t(key: str, lang: str, **kw) -> str:
    zh, en = LABELS.get(key, (key, key))
    s = zh if lang == "zh" else en
    return s.format(**kw) if kw else s
