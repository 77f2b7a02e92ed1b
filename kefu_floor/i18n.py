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
    "warn_no_roster": (
        "kefu-floor: 警告: 未给 --roster: 无法核对花名册, 所有座席按 \"不在花名册\" 计分(无班组、无试用期)",
        "kefu-floor: warning: no --roster: roster membership cannot be checked; every agent "
        "is scored as not in the roster (no teams, no probation)"),
    "warn_no_schedule": (
        "kefu-floor: 警告: 未给 --schedule: 无法核对考勤(迟到、休息超时、早退、缺勤), 休息时间内的示忙计入预算",
        "kefu-floor: warning: no --schedule: attendance cannot be checked (late sign-in, late "
        "return, early leave, absent) and busy time in breaks counts against the budget"),
    "no_data_month": (
        "kefu-floor: {month} 没有数据: 事件覆盖 {span}; 请用 --month 指定其中的月份",
        "kefu-floor: no data for {month}: the events cover {span}; give one of those months "
        "with --month"),
    "excused": ("已申诉撤销", "excused"),
    "ready": ("示闲", "ready"), "busy": ("示忙", "busy"), "out": ("签出", "signed out"),
    "ringing": ("振铃", "ringing"), "talking": ("通话", "talking"), "wrap": ("话后", "wrap-up"),
    "day": ("日期", "Day"), "time": ("时间", "Time"), "rule": ("规则", "Rule"),
    "item": ("考核项", "Item"), "points": ("分值", "Points"),
    "queues": ("队列", "Queues"), "queue": ("队列", "Queue"), "waiting": ("排队", "Waiting"),
    "longest_wait": ("最长等待", "Longest wait"), "sl_30m": ("服务水平30分", "SL 30m"),
    "sl_today": ("服务水平今日", "SL today"), "abandon_rate": ("放弃率", "Abandoned"),
    "agents": ("座席", "Agents"), "state": ("状态", "State"), "in_state": ("持续", "For"),
    "busy_today": ("今日示忙", "Busy today"), "flags": ("提示", "Flags"),
    "in_break": ("休息中", "on break"), "late_return_flag": ("休息迟归", "late back"),
    "missing": ("未签入", "missing"), "late": ("迟到", "late"), "left_early": ("早退", "left early"),
    # the month close (kefu_floor/close)
    "lunch_over_35": ("午餐示忙超时", "lunch over 35 min"),
    "sign_out_in_shift": ("班中签出", "sign-out in shift"), "fines": ("罚款", "Fines"),
    "pay_sheet": ("{month} 工资表({policy})", "{month} pay sheet ({policy})"),
    "yes": ("是", "yes"), "no": ("否", "no"),
    "pay_individual": ("个人 80%", "Individual 80 %"), "pay_team_share": ("团队 20%", "Team 20 %"),
    "pay_gold": ("金牌奖", "Gold"), "pay_gold_quarter": ("连续金牌奖", "Gold quarter"),
    "pay_mentor": ("师徒奖", "Mentor"), "pay_penalties": ("扣款", "Penalties"),
    "pay_bonus": ("月度奖金", "Bonus"), "pay_fines": ("罚款", "Fines"),
    "pay_commission": ("提成", "Commission"), "pay_total": ("合计", "Total"),
}

# Starting and stopping (`demo`, `tui`): what the person at the terminal is told.
LABELS.update({
    "stopped_by": ("已停止({sig})", "stopped ({sig})"),
    "wallboard": ("大屏", "wallboard"),
    "demo_day_over": ("模拟的一天已结束:共发布 {n} 条事件。按 q 退出。",
                      "The simulated day is over: {n} events published. Press q to quit."),
    "demo_day_over_line": ("模拟的一天已结束:共发布 {n} 条事件,演示结束。",
                           "The simulated day is over: {n} events published; the demo stops."),
    "demo_pub_lost": ("模拟器与消息服务器断开({error}),{s:.0f} 秒后重连",
                      "the simulator lost the broker ({error}); reconnecting in {s:.0f} s"),
    "demo_pub_back": ("模拟器已重新连接消息服务器", "the simulator is connected to the broker again"),
    "demo_logs": ("日志写入 {path}", "logs go to {path}"),
})

# The terminal dashboard registers its own labels here (dashboards/tui/labels.py).


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
