"""The pages in a real browser (Debian's Chromium): sign-in, the privacy center on a phone-sized
screen, the console, both languages; a consent withdrawal that changes the console's chart and
the gate's answer; a download of one's data; a complaint filed and resolved; merchant staff
kept out of consumers' pages. Screenshots of each main page (conftest.py says where)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import httpx

from privguard.cases.rules import Category
from privguard.clock import utcnow
from privguard.rights.export import MEMBERS
from privguard.store.uow import unit_of_work

from ..integration.samples import RAW
from .conftest import PASSWORD, PHONE, Site, sign_in

CENTER_PAGES = {  # path -> its heading in zh-CN and en
    "/center": ("我的信息", "My data"),
    "/center/access": ("谁访问了我的信息", "Who accessed my data"),
    "/center/consents": ("我的授权", "My consents"),
    "/center/notice": ("个人信息处理规则", "Privacy notice"),
    "/center/requests": ("我的请求", "My requests"),
    "/center/complaints": ("投诉", "Complaints"),
    "/center/relays": ("隐私号", "Relay numbers"),
    "/center/ratings": ("商家评级", "Merchant ratings"),
}
CONSOLE_PAGES = {
    "/console": "合规控制台",
    "/console/requests": "权利请求",
    "/console/complaints": "投诉",
    "/console/incidents": "告警与事件",
    "/console/merchants": "商家监督",
    "/console/data-map": "数据地图",
    "/console/access-log": "访问日志",
    "/console/recipients": "接收方与协议",
    "/console/retention": "保存期限与法律保全",
}


def watch(page: Any) -> list[str]:
    """Console errors (a CSP violation is one) and dialogs (a script that ran): none allowed."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    return problems


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def test_a_consumer_sees_masked_data_then_reveals_it(site: Site, browser: Any) -> None:
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    page.goto(f"{site.url}/login")
    site.shot(page, "login-zh-CN")
    sign_in(page, site, "consumer")
    page.wait_for_url("**/center")
    assert "13800138000" not in digits(page.inner_text("main"))
    site.shot(page, "center-my-data")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="查看完整信息").click()
    assert "13800138000" in digits(page.inner_text("main"))
    # English, from the language switch.
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", name="My data").is_visible()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.close()


def test_the_console_is_for_staff_with_a_second_factor(site: Site, browser: Any) -> None:
    page = browser.new_page(locale="zh-CN")
    sign_in(page, site, "privacy_officer", staff=True)
    page.wait_for_url("**/console")
    assert page.get_by_role("heading", name="合规控制台").is_visible()
    other = browser.new_page(locale="zh-CN")
    sign_in(other, site, "merchant_staff", staff=True)
    other.goto(f"{site.url}/console")
    assert other.get_by_role("heading", name="无法访问").is_visible()
    other.goto(f"{site.url}/center")
    assert other.get_by_role("heading", name="无法访问").is_visible()
    page.close()
    other.close()


def consents_chart(page: Any, series: str) -> int:
    """This week's bar of the console's consent chart (the last one)."""
    return int(page.locator(f"#chart-consents rect[data-series={series}]").last
               .get_attribute("data-value"))


def gate_allows_sms(site: Site) -> bool:
    """What the marketing service is told by the API, as any service would ask."""
    own = str(site.world.subjects["own"])
    r = httpx.post(f"{site.url}/v1/consent/check", headers=site.world.headers("marketing"),
                   json={"purpose": "marketing_sms", "subject_ids": [own]})
    assert r.status_code == 200, r.text
    return bool(r.json()["allowed"][own])


def test_withdrawing_marketing_consent_changes_the_chart_and_the_gate(
    site: Site, browser: Any,
) -> None:
    consumer = site.context(browser, "consumer").new_page()
    officer = site.context(browser, "privacy_officer").new_page()
    problems = watch(consumer) + watch(officer)
    officer.goto(f"{site.url}/console")
    granted, withdrawn = consents_chart(officer, "granted"), consents_chart(officer, "withdrawn")

    consumer.goto(f"{site.url}/center/consents")
    consumer.get_by_role("button", name="开启 短信营销").click()
    consumer.wait_for_url("**/center/consents?ok=consent_granted")
    assert consumer.get_by_role("status").inner_text() == "已记录你的同意。"
    assert gate_allows_sms(site)

    consumer.get_by_role("button", name="关闭 短信营销").click()
    consumer.wait_for_url("**/center/consents?ok=consent_withdrawn")
    assert consumer.get_by_role("button", name="开启 短信营销").is_visible()
    assert not gate_allows_sms(site)  # the very next decision sees it (PIPL Art. 15)

    officer.reload()
    assert consents_chart(officer, "granted") == granted + 1
    assert consents_chart(officer, "withdrawn") == withdrawn + 1
    officer.locator("#chart-consents summary").click()  # the numbers, for screen readers
    site.shot(officer, "console-dashboard")
    assert problems == []
    consumer.context.close()
    officer.context.close()


def test_a_consumer_downloads_their_data(site: Site, browser: Any) -> None:
    page = site.context(browser, "consumer").new_page()
    problems = watch(page)
    page.goto(f"{site.url}/center/requests")
    page.get_by_role("button", name="下载我的个人信息").click()
    page.wait_for_url("**/center/requests?ok=request_filed")
    card = page.locator("article.request", has_text="下载我的个人信息").first
    card.get_by_label("验证码发送方式").select_option("mobile_phone")
    card.get_by_role("button", name="发送验证码").click()
    assert page.get_by_role("heading", name="输入验证码").is_visible()
    assert "13800138000" not in digits(page.inner_text("main"))  # shown masked
    page.get_by_label("验证码", exact=True).fill(site.notifier.last_code())
    page.get_by_role("button", name="核验").click()
    page.wait_for_url("**/center/requests?ok=request_verified")
    with page.expect_download() as info:
        page.get_by_role("link", name="下载我的个人信息（zip）").click()
    download = info.value
    assert download.suggested_filename.startswith("privguard-export-")
    with open(download.path(), "rb") as fh:
        package = zipfile.ZipFile(io.BytesIO(fh.read()))
    assert set(MEMBERS) <= set(package.namelist())
    mine = json.loads(package.read("personal_information.json"))
    assert RAW["name"] in json.dumps(mine, ensure_ascii=False)
    assert problems == []
    page.context.close()


def test_a_complaint_is_filed_and_the_officer_resolves_it(site: Site, browser: Any) -> None:
    consumer = site.context(browser, "consumer").new_page()
    officer = site.context(browser, "privacy_officer").new_page()
    problems = watch(consumer) + watch(officer)
    typed = "<script>alert('x')</script> 营销短信每天都来"
    consumer.goto(f"{site.url}/center/complaints")
    consumer.get_by_label("投诉什么？").select_option(Category.MARKETING_WITHOUT_CONSENT.value)
    consumer.get_by_label("发生了什么？").fill(typed)
    consumer.get_by_role("button", name="提交投诉").click()
    consumer.wait_for_url("**/center/complaints/*?ok=complaint_filed")
    assert consumer.locator("p.text").inner_text() == typed  # text, not markup
    case_url = consumer.url.split("?")[0]
    case_id = case_url.rsplit("/", 1)[-1]

    officer.goto(f"{site.url}/console/complaints")  # the queue, soonest deadline first
    officer.locator(f'a[href="/console/complaints/{case_id}"]').click()
    site.shot(officer, "console-complaint")
    officer.get_by_role("button", name="受理评估").click()
    officer.get_by_role("button", name="开始调查").click()
    officer.get_by_label("是", exact=True).check()
    officer.get_by_label("调查结论（投诉人可见）").fill("商家在未取得同意时发送了营销短信。")
    officer.get_by_label("整改措施").fill("已停止该商家的短信营销并要求整改。")
    officer.get_by_role("button", name="作出处理结论").click()
    officer.wait_for_url("**?ok=done")
    assert "已处理" in officer.inner_text("main")

    consumer.goto(case_url)
    assert "已处理" in consumer.inner_text("dl")
    assert "商家在未取得同意时发送了营销短信。" in consumer.inner_text("main")
    site.shot(consumer, "center-complaint")
    assert problems == []
    consumer.context.close()
    officer.context.close()


def test_merchant_staff_reach_no_consumer_page(site: Site, browser: Any) -> None:
    """Staff have no privacy center at all: not theirs, not another merchant's customers'."""
    w = site.world
    with unit_of_work(site.runtime.sessions) as session:
        case = site.runtime.cases.file(session, w.actors["consumer"],
                                       category=Category.PI_LEAK, description="泄露",
                                       now=utcnow())
    page = site.context(browser, "merchant_staff_b").new_page()
    for path in [*CENTER_PAGES, f"/center/complaints/{case.case_id}",
                 f"/center/requests/{uuid.uuid4()}/export"]:
        response = page.goto(f"{site.url}{path}")
        assert response.status == 403, path
        assert page.get_by_role("heading", name="无法访问").is_visible()
        assert "欧阳" not in page.inner_text("body")
    page.context.close()


def test_every_page_renders_in_both_languages(site: Site, browser: Any) -> None:
    consumer = site.context(browser, "consumer").new_page()
    problems = watch(consumer)
    for path, (zh, _) in CENTER_PAGES.items():
        consumer.goto(f"{site.url}{path}")
        assert consumer.evaluate("document.documentElement.lang") == "zh-CN"
        assert consumer.get_by_role("heading", level=1, name=zh, exact=True).is_visible(), path
        width = consumer.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
        if path != "/center":  # center-my-data: the first test
            site.shot(consumer, "center-" + path.rsplit("/", 1)[-1])
    consumer.goto(f"{site.url}/center/access?lang=en")
    assert consumer.evaluate("document.documentElement.lang") == "en"
    site.shot(consumer, "center-access-en")
    for path, (_, en) in CENTER_PAGES.items():
        consumer.goto(f"{site.url}{path}")  # the choice is kept in a cookie
        assert consumer.get_by_role("heading", level=1, name=en, exact=True).is_visible(), path
    officer = site.context(browser, "privacy_officer").new_page()
    problems += watch(officer)
    for path, heading in CONSOLE_PAGES.items():
        officer.goto(f"{site.url}{path}")
        assert officer.get_by_role("heading", level=1, name=heading, exact=True).is_visible(), path
        if path != "/console":
            site.shot(officer, "console-" + path.rsplit("/", 1)[-1])
    officer.goto(f"{site.url}/console/data-map?lang=en")
    assert officer.get_by_role("heading", name="Who may see what").is_visible()
    assert problems == []
    consumer.context.close()
    officer.context.close()
