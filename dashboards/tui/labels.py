"""The dashboard's labels (Simplified Chinese and English), registered in the one label table
(`kefu_floor.i18n`) when the TUI is imported, and binding descriptions put in the chosen
language. Column headings are short on purpose: the floor table has to stay readable at 80
columns."""
from __future__ import annotations

import dataclasses

from kefu_floor.i18n import LABELS, t

__all__ = ["t", "translate_bindings"]

LABELS.update({
    "tui_app": ("客服现场", "kefu-floor"), "tui_feed_time": ("数据时间", "feed time"),
    "tui_connected": ("已连接", "connected"), "tui_connecting": ("连接中...", "connecting..."),
    "tui_offline": ("已断开", "offline"),
    "tui_disconnected": ("断开于 {time},显示最后数据,正在重连(第 {n} 次)",
                         "disconnected since {time}; last data shown; reconnecting (try {n})"),
    "tui_never": ("尚未连接到 {url}", "not yet connected to {url}"),
    "tui_state": ("状态", "State"), "tui_in_state": ("持续", "In state"),
    "tui_busy": ("今日示忙", "Busy"), "tui_left": ("剩余", "Left"), "tui_sign": ("考勤", "Sign-in"),
    "tui_ans": ("接通", "Ans"), "tui_aht": ("均时", "AHT"), "tui_rate": ("接通率", "Ans%"),
    "tui_sat": ("满意", "Sat%"), "tui_score": ("月分", "Score"), "tui_star": ("星", "Star"),
    "tui_prob": ("试用", "prob"),
    "tui_f_missing": ("未签入", "missing"), "tui_f_late": ("迟到", "late"),
    "tui_f_left_early": ("早退", "left early"), "tui_f_absent": ("旷工", "absent"),
    "tui_f_late_return": ("休息超时", "late back"), "tui_f_unknown": ("非花名册", "not rostered"),
    "tui_f_in_break": ("休息中", "on break"), "tui_f_ok": ("在班", "on shift"),
    "tui_leader": ("值班长", "leader"),
    "tui_fact_threshold_min": ("阈值(分钟)", "threshold min"),
    "tui_fact_counted_busy_s_that_day": ("当日计入示忙", "counted busy that day"),
    "tui_fact_shift": ("班次", "shift"), "tui_fact_deadline": ("最晚签入", "deadline"),
    "tui_fact_signed_in": ("签入时间", "signed in"), "tui_fact_break": ("休息", "break"),
    "tui_fact_back_by": ("应回", "back by"), "tui_fact_stay_until": ("应留到", "stay until"),
    "tui_fact_last_sign_out": ("最后签出", "last sign-out"),
    "tui_fact_busy_since": ("示忙自", "busy since"),
    "tui_r_break": ("休息", "break"), "tui_r_lunch": ("午餐", "lunch"),
    "tui_r_meeting": ("会议", "meeting"), "tui_r_training": ("培训", "training"),
    "tui_r_system": ("系统", "system"), "tui_r_toilet": ("如厕", "toilet"),
    "tui_waiting": ("排队", "waiting"), "tui_longest": ("最长等待", "longest"),
    "tui_sl": ("服务水平", "SL"), "tui_30m": ("30分钟", "30 min"), "tui_today": ("今日", "today"),
    "tui_target": ("目标", "target"), "tui_abandon": ("放弃率", "abandoned"),
    "tui_occupancy": ("占用率", "occupancy"),
    "tui_filter_team": ("班组", "team"), "tui_all": ("全部", "all"),
    "tui_exceptions": ("仅异常", "exceptions only"), "tui_on": ("开", "on"), "tui_off": ("关", "off"),
    "tui_sort": ("排序", "sort"), "tui_asc": ("升序", "asc"), "tui_desc": ("降序", "desc"),
    "tui_shown": ("显示 {n}/{total} 人", "{n}/{total} agents shown"),
    "tui_alerts": ("扣分提醒(最新在上)", "Deductions, newest first"),
    "tui_rule_zh": ("规则", "规则"), "tui_rule_en": ("Rule", "Rule"),
    "tui_timeline": ("今日状态时间线", "Today's state timeline"),
    "tui_timeline_from": ("(连接后所见,自 {time} 起)", "(as seen by this screen since {time})"),
    "tui_from": ("开始", "From"), "tui_for": ("时长", "For"),
    "tui_ledger": ("{month} 扣分明细与依据", "Ledger {month}, with evidence"),
    "tui_evidence": ("依据", "Evidence"), "tui_no_deductions": ("本月无扣分", "no deductions this month"),
    "tui_items": ("考核项与分档", "Item scores against the policy bands"),
    "tui_weight": ("权重", "Weight"), "tui_value": ("实际", "Value"), "tui_bands": ("分档", "Bands"),
    "tui_item_score": ("单项分", "Score"), "tui_weighted": ("折算", "Points"),
    "tui_next_star": ("升星所需", "To reach the next star"),
    "tui_loading": ("加载中...", "loading..."), "tui_no_report": ("无法取得报表:{error}", "no report: {error}"),
    "tui_no_policy": ("未知考核方案 {name},无法显示分档", "policy {name} unknown here: no bands"),
    "tui_star_top": ("已是最高星级({star}星)", "already at the top grade ({star} star)"),
    "tui_star_now": ("当前 {star} 星,总分 {score}", "now {star} star, score {score}"),
    "tui_star_need": ("达到 {next} 星需总分至少 {target}(还差 {need} 分),例如任一项:",
                      "{next} star needs a score of at least {target} (+{need}), e.g. any one of:"),
    "tui_star_item": ("{item} +{pts}(到 {to})", "{item} +{pts} (to {to})"),
    "tui_star_adjust": ("或加分 +{need}(表扬、建议采纳等)", "or adjustments +{need} (praise, adopted feedback)"),
    "tui_star_none": ("单项提高不够,需多项同时提高", "no single item is enough: several must rise"),
    "tui_star_unreachable": ("本月人数下 {next} 星名额为 0", "no {next} star places with this many agents"),
    "tui_star_assume": ("(假设他人分数不变)", "(assuming everyone else's score stays as it is)"),
    "tui_star_probation": ("试用期,不评星", "on probation: no star"),
    "tui_star_noscore": ("尚无总分,缺少:{items}", "no score yet; no data for: {items}"),
    "tui_star_leader": ("值班长不参加专员评星", "shift leaders are not ranked with agents"),
    "tui_manual": ("人工评分(月均)", "manual score (month mean)"),
    "tui_util_rule": ("每日示忙 {budget} 分钟内不扣;超出 {first},每再 {step} 分钟 {pts}",
                      "{budget} min busy a day free; over it {first}, then {pts} per {step} min"),
    "tui_site_rule": ("100 起,迟到/休息超时/早退等扣分", "from 100, less floor-rule deductions"),
    "tui_ev_busy": ("当日计入示忙 {busy};第 {n} 次超限(超过 {mins} 分钟)于 {time}",
                    "counted busy that day {busy}; crossing {n} (over {mins} min) at {time}"),
    "tui_ev_late": ("签入时间 {time},晚于班次开始+宽限", "signed in at {time}, after shift start + grace"),
    "tui_ev_return": ("休息结束+宽限 {time} 时仍示忙或签出", "still busy or signed out at {time}, break end + grace"),
    "tui_ev_early": ("班次结束 {time} 前已签出(或示忙离开)", "gone before shift end less the tolerance; booked {time}"),
    "tui_ev_absent": ("班次结束 {time} 前未签入", "no sign-in before the shift ended at {time}"),
    "tui_team_view": ("班组概况", "Team view"), "tui_agents": ("人数", "Agents"),
    "tui_signed_in": ("在线", "On"), "tui_mean_score": ("月均分", "Mean score"),
    "tui_answered_today": ("今日接通", "Answered"), "tui_over_budget": ("超示忙", "Over budget"),
    "tui_exc_n": ("异常", "Exceptions"), "tui_by_state": ("状态分布", "By state"),
    "tui_leaders": ("值班长考核项(有数据的)", "Shift leaders' score items (where data exists)"),
    "tui_team_score": ("班组得分", "team score"), "tui_team_aht": ("班组平均时长", "team AHT"),
    "tui_no_data": ("无数据", "no data"),
    "tui_leader_manual": ("人均销售、现场管理、业务监控、考试:人工录入,暂无数据",
                          "sales per call, floor management, monitoring, exam: manual, no data here"),
    "tui_help": ("键盘帮助", "Keyboard help"), "tui_legend": ("状态符号", "State symbols"),
    "tui_colours": ("剩余示忙额度:不足 10 分钟橙色,不足 5 分钟加 !,用完 !!",
                    "busy budget left: orange at 10 min or less, '!' at 5, '!!' when used up"),
    "tui_k_help": ("帮助", "help"), "tui_k_detail": ("坐席详情", "agent detail"),
    "tui_k_team": ("班组筛选", "team filter"), "tui_k_exc": ("仅异常", "exceptions"),
    "tui_k_sort": ("排序列", "sort"), "tui_k_reverse": ("反向", "reverse"),
    "tui_k_teams": ("班组概况", "teams"), "tui_k_site": ("下一站点", "next site"), "tui_k_alerts": ("切换焦点", "switch pane"),
    "tui_k_quit": ("退出", "quit"), "tui_k_back": ("返回", "back"), "tui_k_reload": ("刷新", "reload"),
    # the month close's figures in the drill-down (kefu_floor/close)
    "tui_scheme": ("{policy} 本月至今", "{policy}: the month so far"),
    "tui_points": ("积分", "Points"), "tui_points_ledger": ("积分明细", "Points ledger"),
    "tui_gold": ("金牌", "Gold"), "tui_gold_run": ("连续金牌月", "Gold months running"),
    "tui_pay": ("工资预估", "Pay so far"), "tui_place": ("销售名次", "Sales place"),
    "tui_ladder": ("处分阶梯", "Ladder"), "tui_bonus_b": ("个人奖金 B", "Bonus B"),
    "tui_team_share": ("团队 20%", "Team 20 %"), "tui_flags": ("标记", "Flags"),
})


def translate_bindings(node, lang: str) -> None:
    """Binding descriptions are i18n keys; put them in the chosen language."""
    for key, bindings in list(node._bindings.key_to_bindings.items()):
        node._bindings.key_to_bindings[key] = [
            dataclasses.replace(b, description=t(b.description, lang)) if b.description else b
            for b in bindings]
