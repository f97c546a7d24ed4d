//! `GET /staff/stats`: the ward's statistics page.
//!
//! It leads with the report sentence in the form a ward reports upward ("Từ 01/07/2025 đến
//! 18/07/2025: 660 hồ sơ, 83 % trực tuyến"), names the ward and its province, and draws four
//! charts on the server as SVG (no script): dossiers per day stacked online / in person, the
//! online share over time, referrals by reason, bookings by outcome. Each chart has a `title`
//! and `desc`, a caption and a data table, so a screen reader and a printed page get the same
//! figures; a `viewBox` lets it shrink to a phone's width. Dates are shown and typed as
//! dd/mm/yyyy (Vietnam time); `Accept: application/json` gets the figures as JSON.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use serde::Deserialize;

use super::auth::internal_error;
use super::gateway::Gateway;
use super::html::{
    ButtonKind, FormMethod, Markup, NoticeKind, button, form, html, link_button, notice,
};
use super::staff::{sign_in_page, staff_page};
use super::stats_api::{compute, resolve_range};
use crate::fallback::vietnam;
use crate::i18n::Lang;
use crate::stats::{Stats, reason_label};

pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new().route("/staff/stats", get(statistics))
}

#[derive(Debug, Default, Deserialize)]
struct StatsPageQuery {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// A day as typed on the page: dd/mm/yyyy (also d/m/yyyy), or `YYYY-MM-DD` from a link.
pub(crate) fn typed_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%d/%m/%Y")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .ok()
}

/// dd/mm/yyyy.
fn shown(day: NaiveDate) -> String {
    day.format("%d/%m/%Y").to_string()
}

/// `GET /staff/stats?from=dd/mm/yyyy&to=dd/mm/yyyy`: default the last 30 days.
async fn statistics(
    State(gw): State<Arc<Gateway>>,
    Query(query): Query<StatsPageQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = query
        .lang
        .as_deref()
        .and_then(Lang::from_code)
        .unwrap_or_default();
    if gw.staff_session(&headers).is_none() {
        return sign_in_page(&gw, lang, &uri);
    }
    let title = lang.pick("Thống kê hồ sơ", "Dossier statistics");
    let today = gw.clock.now().with_timezone(&vietnam()).date_naive();
    let (from, to) = match resolve_range(
        query.from.as_deref(),
        query.to.as_deref(),
        today,
        typed_date,
    ) {
        Ok(range) => range,
        Err(bad) => {
            let message = if bad.status == StatusCode::BAD_REQUEST {
                lang.pick(
                    "Nhập ngày theo dạng ngày/tháng/năm, ví dụ 01/07/2025.",
                    "Enter dates as day/month/year, for example 01/07/2025.",
                )
            } else {
                lang.pick(
                    "Ngày kết thúc phải sau ngày bắt đầu, và khoảng thời gian không quá 366 ngày.",
                    "The end date must follow the start date, within 366 days.",
                )
            };
            let page = staff_page(&gw, lang, title, &uri)
                .push(notice(
                    NoticeKind::Error,
                    lang.pick("Ngày không hợp lệ", "Invalid date"),
                    message,
                ))
                .push(range_form(
                    lang,
                    query.from.as_deref().unwrap_or(""),
                    query.to.as_deref().unwrap_or(""),
                ));
            return (bad.status, page).into_response();
        }
    };
    let ward = gw.ward(None);
    let stats = match compute(&gw, ward.code, from, to).await {
        Ok(stats) => stats,
        Err(error) => {
            tracing::error!(%error, "computing statistics failed");
            return internal_error(lang);
        }
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return axum::Json(stats.to_json()).into_response();
    }
    let csv = format!(
        "/api/stats?from={from}&to={to}&ward={}&format=csv",
        ward.code
    );
    let body = html! {
        p class="report-sentence" { strong { (stats.report_sentence(lang)) } }
        p {
            (lang.pick(&ward.name_vi, &ward.name_en)) ", "
            (lang.pick(&ward.province_vi, &ward.province_en))
            " — "
            (breakdown(&stats, lang))
        }
        (range_form(lang, &shown(from), &shown(to)))
        (link_button(ButtonKind::Secondary, &csv, lang.pick("Tải về tệp CSV", "Download as CSV")))
        (dossiers_chart(&stats, lang))
        (share_chart(&stats, lang))
        (referrals_chart(&stats, lang))
        (bookings_chart(&stats, lang))
    };
    staff_page(&gw, lang, title, &uri)
        .push(body)
        .into_response()
}

/// The sentence after the report sentence: online, in person, referrals.
fn breakdown(stats: &Stats, lang: Lang) -> String {
    match lang {
        Lang::Vi => format!(
            "{} hồ sơ nộp trực tuyến, {} hồ sơ tiếp nhận trực tiếp; {} lượt chuyển nộp trực tiếp.",
            stats.online,
            stats.in_person,
            stats.referrals()
        ),
        Lang::En => format!(
            "{} dossiers filed online, {} received in person; {} referrals to in-person service.",
            stats.online,
            stats.in_person,
            stats.referrals()
        ),
    }
}

fn range_form(lang: Lang, from: &str, to: &str) -> Markup {
    let hint = lang.pick(
        "Dạng ngày/tháng/năm, ví dụ 01/07/2025",
        "As day/month/year, e.g. 01/07/2025",
    );
    let content = html! {
        input type="hidden" name="lang" value=(lang.code());
        div class="field" {
            label for="from" { (lang.pick("Từ ngày", "From")) }
            p class="hint" id="from-hint" { (hint) }
            input type="text" id="from" name="from" value=(from) inputmode="numeric"
                autocomplete="off" aria-describedby="from-hint" placeholder="dd/mm/yyyy";
        }
        div class="field" {
            label for="to" { (lang.pick("Đến ngày", "To")) }
            p class="hint" id="to-hint" { (hint) }
            input type="text" id="to" name="to" value=(to) inputmode="numeric"
                autocomplete="off" aria-describedby="to-hint" placeholder="dd/mm/yyyy";
        }
        (button(ButtonKind::Primary, lang.pick("Xem", "Show")))
    };
    form(FormMethod::Get, "/staff/stats", None, content)
}

/// Chart geometry: the drawing is `WIDTH` × `HEIGHT` user units, scaled to the page's width.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
/// Room on the left for the axis labels, and at the bottom for the day labels.
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;
/// Colours with at least 4.5:1 against white.
const ONLINE: &str = "#1d4ed8";
const IN_PERSON: &str = "#9a3412";
const BAR: &str = "#0f766e";
const INK: &str = "#1f2937";
const GRID: &str = "#9ca3af";

/// A chart: a figure with the SVG (title and desc for screen readers), a caption and the table
/// of its figures.
fn chart(
    id: &str,
    title: &str,
    desc: &str,
    svg_body: Markup,
    height: f64,
    table: Markup,
) -> Markup {
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        figure class="chart" id=(id) {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (height) }
                role="img" aria-labelledby={ (title_id) " " (desc_id) } {
                title id=(title_id) { (title) }
                desc id=(desc_id) { (desc) }
                (svg_body)
            }
            figcaption { (title) ". " (desc) }
            (table)
        }
    }
}

/// A round, readable top for an axis holding `max`.
fn axis_top(max: u64) -> u64 {
    match max {
        0..=4 => 4,
        5..=10 => 10,
        _ => max.div_ceil(10) * 10,
    }
}

fn px(value: f64) -> String {
    format!("{value:.1}")
}

/// The day's label under its bar: every day when few, else every seventh.
fn day_label(index: usize, days: usize, date: NaiveDate) -> Option<String> {
    let step = if days <= 10 { 1 } else { 7 };
    index
        .is_multiple_of(step)
        .then(|| date.format("%d/%m").to_string())
}

fn dossiers_chart(stats: &Stats, lang: Lang) -> Markup {
    let days = stats.by_day.len().max(1);
    let max = stats
        .by_day
        .iter()
        .map(|d| d.online + d.in_person)
        .max()
        .unwrap_or(0);
    let top = axis_top(max);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / days as f64;
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / top as f64;
    let body = html! {
        line x1=(LEFT) y1=(px(y(0))) x2=(WIDTH - 8.0) y2=(px(y(0))) stroke=(GRID) {}
        line x1=(LEFT) y1=(px(y(top))) x2=(WIDTH - 8.0) y2=(px(y(top))) stroke=(GRID) stroke-dasharray="4 4" {}
        text x=(LEFT - 4.0) y=(px(y(top) + 4.0)) text-anchor="end" font-size="12" fill=(INK) { (top) }
        text x=(LEFT - 4.0) y=(px(y(0) + 4.0)) text-anchor="end" font-size="12" fill=(INK) { "0" }
        @for (i, day) in stats.by_day.iter().enumerate() {
            @let x = LEFT + slot * i as f64 + slot * 0.15;
            @let w = (slot * 0.7).max(1.0);
            @if day.online > 0 {
                rect class="online" x=(px(x)) y=(px(y(day.online))) width=(px(w))
                    height=(px(y(0) - y(day.online))) fill=(ONLINE) {}
            }
            @if day.in_person > 0 {
                rect class="in-person" x=(px(x)) y=(px(y(day.online + day.in_person))) width=(px(w))
                    height=(px(y(day.online) - y(day.online + day.in_person))) fill=(IN_PERSON) {}
            }
            @if let Some(label) = day_label(i, days, day.date) {
                text x=(px(x + w / 2.0)) y=(px(HEIGHT - 8.0)) text-anchor="middle" font-size="12" fill=(INK) { (label) }
            }
        }
        rect x=(LEFT + 8.0) y="2" width="10" height="10" fill=(ONLINE) {}
        text x=(LEFT + 22.0) y="11" font-size="12" fill=(INK) { (lang.pick("Trực tuyến", "Online")) }
        rect x=(LEFT + 120.0) y="2" width="10" height="10" fill=(IN_PERSON) {}
        text x=(LEFT + 134.0) y="11" font-size="12" fill=(INK) { (lang.pick("Trực tiếp", "In person")) }
    };
    let desc = match lang {
        Lang::Vi => format!(
            "{} hồ sơ trực tuyến và {} hồ sơ trực tiếp trong {} ngày; nhiều nhất {} hồ sơ một ngày.",
            stats.online,
            stats.in_person,
            stats.by_day.len(),
            max
        ),
        Lang::En => format!(
            "{} online and {} in-person dossiers over {} days; at most {} in a day.",
            stats.online,
            stats.in_person,
            stats.by_day.len(),
            max
        ),
    };
    let table = html! {
        details {
            summary { (lang.pick("Bảng số liệu theo ngày", "Figures by day")) }
            table {
                thead { tr {
                    th scope="col" { (lang.pick("Ngày", "Day")) }
                    th scope="col" { (lang.pick("Trực tuyến", "Online")) }
                    th scope="col" { (lang.pick("Trực tiếp", "In person")) }
                    th scope="col" { (lang.pick("Chuyển nộp trực tiếp", "Referrals")) }
                } }
                tbody {
                    @for day in &stats.by_day {
                        tr {
                            th scope="row" { (shown(day.date)) }
                            td { (day.online) }
                            td { (day.in_person) }
                            td { (day.referrals) }
                        }
                    }
                }
            }
        }
    };
    chart(
        "chart-dossiers",
        lang.pick(
            "Hồ sơ theo ngày, trực tuyến và trực tiếp",
            "Dossiers per day, online and in person",
        ),
        &desc,
        body,
        HEIGHT,
        table,
    )
}

fn share_chart(stats: &Stats, lang: Lang) -> Markup {
    let days = stats.by_day.len().max(1);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / days as f64;
    let y = |share: f64| TOP + plot_h - plot_h * share;
    // Days without a dossier have no share: the line joins the days that have one.
    let points: Vec<(f64, f64, NaiveDate, u64)> = stats
        .by_day
        .iter()
        .enumerate()
        .filter(|(_, d)| d.online + d.in_person > 0)
        .map(|(i, d)| {
            let share = d.online as f64 / (d.online + d.in_person) as f64;
            let percent =
                (d.online * 200 + d.online + d.in_person) / ((d.online + d.in_person) * 2);
            (LEFT + slot * (i as f64 + 0.5), y(share), d.date, percent)
        })
        .collect();
    let line: String = points
        .iter()
        .map(|(x, y, _, _)| format!("{},{}", px(*x), px(*y)))
        .collect::<Vec<_>>()
        .join(" ");
    let body = html! {
        @for (share, label) in [(0.0, "0 %"), (0.5, "50 %"), (1.0, "100 %")] {
            line x1=(LEFT) y1=(px(y(share))) x2=(WIDTH - 8.0) y2=(px(y(share))) stroke=(GRID) stroke-dasharray="4 4" {}
            text x=(LEFT - 4.0) y=(px(y(share) + 4.0)) text-anchor="end" font-size="11" fill=(INK) { (label) }
        }
        @if points.len() > 1 {
            polyline points=(line) fill="none" stroke=(ONLINE) stroke-width="2" {}
        }
        @for (x, y, _, _) in &points {
            circle cx=(px(*x)) cy=(px(*y)) r="4" fill=(ONLINE) {}
        }
        @for (i, day) in stats.by_day.iter().enumerate() {
            @if let Some(label) = day_label(i, days, day.date) {
                text x=(px(LEFT + slot * (i as f64 + 0.5))) y=(px(HEIGHT - 8.0)) text-anchor="middle" font-size="12" fill=(INK) { (label) }
            }
        }
    };
    let overall = stats
        .online_share_percent()
        .map_or_else(|| "–".to_owned(), |p| format!("{p} %"));
    let desc = match lang {
        Lang::Vi => format!(
            "Tỷ lệ trực tuyến cả kỳ: {overall}; {} ngày có hồ sơ.",
            points.len()
        ),
        Lang::En => format!(
            "Online share over the range: {overall}; {} days with dossiers.",
            points.len()
        ),
    };
    let table = html! {
        details {
            summary { (lang.pick("Tỷ lệ trực tuyến theo ngày", "Online share by day")) }
            table {
                thead { tr {
                    th scope="col" { (lang.pick("Ngày", "Day")) }
                    th scope="col" { (lang.pick("Tỷ lệ trực tuyến", "Online share")) }
                } }
                tbody {
                    @for (_, _, date, percent) in &points {
                        tr { th scope="row" { (shown(*date)) } td { (percent) " %" } }
                    }
                }
            }
        }
    };
    chart(
        "chart-share",
        lang.pick(
            "Tỷ lệ hồ sơ trực tuyến theo ngày",
            "Online share of dossiers by day",
        ),
        &desc,
        body,
        HEIGHT,
        table,
    )
}

/// A horizontal bar chart of labelled counts, with its table.
fn bars(
    id: &str,
    title: &str,
    desc: &str,
    rows: &[(String, u64)],
    lang: Lang,
    label_heading: &str,
) -> Markup {
    let row_h = 28.0;
    let label_w = 300.0;
    let height = (rows.len().max(1) as f64) * row_h + 8.0;
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let bar_w = WIDTH - label_w - 60.0;
    let body = html! {
        @if rows.is_empty() {
            text x="8" y="20" font-size="13" fill=(INK) { (lang.pick("Không có số liệu", "No figures")) }
        }
        @for (i, (label, n)) in rows.iter().enumerate() {
            @let top = 4.0 + row_h * i as f64;
            text x=(label_w - 6.0) y=(px(top + 17.0)) text-anchor="end" font-size="13" fill=(INK) { (label) }
            rect x=(label_w) y=(px(top + 4.0)) width=(px((bar_w * *n as f64 / max as f64).max(1.0))) height="18" fill=(BAR) {}
            text x=(px(label_w + 6.0 + bar_w * *n as f64 / max as f64)) y=(px(top + 17.0)) font-size="13" fill=(INK) { (n) }
        }
    };
    let table = html! {
        table {
            thead { tr {
                th scope="col" { (label_heading) }
                th scope="col" { (lang.pick("Số lượng", "Count")) }
            } }
            tbody {
                @for (label, n) in rows {
                    tr { th scope="row" { (label) } td { (n) } }
                }
            }
        }
    };
    chart(id, title, desc, body, height, table)
}

fn referrals_chart(stats: &Stats, lang: Lang) -> Markup {
    let rows: Vec<(String, u64)> = stats
        .referrals_by_reason
        .iter()
        .map(|(reason, n)| (reason_label(*reason, lang).to_owned(), *n))
        .collect();
    let desc = match lang {
        Lang::Vi => format!(
            "{} lượt chuyển nộp trực tiếp (mỗi phiếu hẹn một lượt), theo lý do.",
            stats.referrals()
        ),
        Lang::En => format!(
            "{} referrals to in-person service (one per ticket), by reason.",
            stats.referrals()
        ),
    };
    bars(
        "chart-referrals",
        lang.pick("Chuyển nộp trực tiếp theo lý do", "Referrals by reason"),
        &desc,
        &rows,
        lang,
        lang.pick("Lý do", "Reason"),
    )
}

fn bookings_chart(stats: &Stats, lang: Lang) -> Markup {
    let b = &stats.bookings;
    let rows = vec![
        (lang.pick("Đã đặt", "Booked").to_owned(), b.booked),
        (lang.pick("Đã hủy", "Cancelled").to_owned(), b.cancelled),
        (lang.pick("Đã đến", "Attended").to_owned(), b.attended),
        (lang.pick("Không đến", "No-show").to_owned(), b.no_show),
    ];
    let desc = match lang {
        Lang::Vi => format!(
            "Lịch hẹn: {} đã đặt, {} đã hủy, {} đã đến, {} không đến.",
            b.booked, b.cancelled, b.attended, b.no_show
        ),
        Lang::En => format!(
            "Bookings: {} booked, {} cancelled, {} attended, {} no-show.",
            b.booked, b.cancelled, b.attended, b.no_show
        ),
    };
    bars(
        "chart-bookings",
        lang.pick("Lịch hẹn theo kết quả", "Bookings by outcome"),
        &desc,
        &rows,
        lang,
        lang.pick("Kết quả", "Outcome"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_typed_day_first_or_as_in_links() {
        let day = NaiveDate::from_ymd_opt(2025, 7, 1);
        assert_eq!(typed_date("01/07/2025"), day);
        assert_eq!(typed_date("1/7/2025"), day);
        assert_eq!(typed_date("2025-07-01"), day);
        assert_eq!(typed_date("07/31/2025"), None, "month first is refused");
        assert_eq!(
            shown(NaiveDate::from_ymd_opt(2025, 7, 18).unwrap_or_default()),
            "18/07/2025"
        );
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(axis_top(0), 4);
        assert_eq!(axis_top(3), 4);
        assert_eq!(axis_top(7), 10);
        assert_eq!(axis_top(41), 50);
    }
}
