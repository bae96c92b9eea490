//! Tables for the template, the CSV reader and the window math.

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn templates_fill_and_refuse() {
    let v = vars(&[("name", "Ana"), ("code", "42")]);
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("Hi {{name}}!", Ok("Hi Ana!")),
        (
            "{{ name }}, your code is {{code}}",
            Ok("Ana, your code is 42"),
        ),
        ("no vars", Ok("no vars")),
        ("", Ok("")),
        ("{{name}}{{name}}", Ok("AnaAna")),
        ("a { b } c", Ok("a { b } c")),
        ("Hi {{missing}}", Err("missing")),
    ];
    assert!(!cases.is_empty());
    for (text, want) in cases {
        let t = Template::parse(text).expect("parses");
        assert_eq!(
            t.fill(&v).as_deref().map_err(|e| e.as_str()),
            *want,
            "{text}"
        );
    }
    let bad: &[(&str, &str)] = &[
        ("Hi {{name", "character 4 has no closing"),
        ("Hi {{}}", "not a variable name"),
        ("Hi {{na me}}", "not a variable name"),
        ("ü {{x", "character 3"),
    ];
    assert!(!bad.is_empty());
    for (text, want) in bad {
        let e = Template::parse(text).expect_err(text).to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
    let t = Template::parse("{{b}} {{a}} {{b}}").expect("parses");
    assert_eq!(t.vars(), vec!["b", "a"]);
}

#[test]
fn csv_rows_and_errors() {
    let r = parse_csv("to,name\n+4915112345,Ana\n 004915199 , Bo \n").expect("csv");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].to, "+4915112345");
    assert_eq!(r[0].vars, vars(&[("name", "Ana")]));
    assert_eq!(r[0].row, "row 2");
    assert_eq!(r[1].to, "004915199");
    assert_eq!(r[1].vars, vars(&[("name", "Bo")]));
    assert_eq!(r[1].row, "row 3");
    let quoted = parse_csv("name,To\n\"Smith, Ann\",123\n").expect("quoted");
    assert_eq!(quoted[0].vars, vars(&[("name", "Smith, Ann")]));
    assert_eq!(quoted[0].to, "123");
    let bad: &[(&str, &str)] = &[
        ("number,name\n1,a\n", "no \"to\" column"),
        ("to,name\n1,a\n2\n", "row 3"),
        ("to,name\n1,a\n,b\n", "row 3: the \"to\" field is empty"),
        ("to,to\n1,2\n", "twice"),
        ("", "no header row"),
    ];
    assert!(!bad.is_empty());
    for (text, want) in bad {
        let e = parse_csv(text).expect_err(text).to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn windows_open_and_close() {
    let day = Window::parse("09:00", "20:00", "Europe/Berlin").expect("window");
    let night = Window::parse_range("22:00-06:00", "Europe/Berlin").expect("window");
    // Winter: Berlin is UTC+1.
    let cases: &[(&Window, &str, bool, &str)] = &[
        (&day, "2026-01-15T07:59:00Z", false, "2026-01-15T08:00:00Z"),
        (&day, "2026-01-15T08:00:00Z", true, "2026-01-15T19:00:00Z"),
        (&day, "2026-01-15T18:59:59Z", true, "2026-01-15T19:00:00Z"),
        (&day, "2026-01-15T19:00:00Z", false, "2026-01-16T08:00:00Z"),
        (&day, "2026-01-15T23:30:00Z", false, "2026-01-16T08:00:00Z"),
        // Summer: UTC+2.
        (&day, "2026-07-15T06:59:00Z", false, "2026-07-15T07:00:00Z"),
        (&day, "2026-07-15T07:00:00Z", true, "2026-07-15T18:00:00Z"),
        // Across midnight.
        (
            &night,
            "2026-01-15T20:59:00Z",
            false,
            "2026-01-15T21:00:00Z",
        ),
        (&night, "2026-01-15T21:00:00Z", true, "2026-01-16T05:00:00Z"),
        (&night, "2026-01-15T23:00:00Z", true, "2026-01-16T05:00:00Z"),
        (&night, "2026-01-16T04:59:00Z", true, "2026-01-16T05:00:00Z"),
        (
            &night,
            "2026-01-16T05:00:00Z",
            false,
            "2026-01-16T21:00:00Z",
        ),
        // DST starts in Berlin on 2026-03-29 at 02:00 local (01:00 UTC):
        // the day before opens at 08:00 UTC, that day at 07:00 UTC.
        (&day, "2026-03-28T19:00:00Z", false, "2026-03-29T07:00:00Z"),
        // DST ends on 2026-10-25 at 03:00 local (01:00 UTC).
        (&day, "2026-10-24T18:00:00Z", false, "2026-10-25T08:00:00Z"),
    ];
    assert!(!cases.is_empty());
    for (w, now, open, next) in cases {
        let now = utc(now);
        assert_eq!(w.is_open(now), *open, "open at {now}");
        assert_eq!(w.next_change(now), utc(next), "next change after {now}");
    }
}

#[test]
fn a_window_start_skipped_by_dst_opens_after_the_jump() {
    // 02:30 does not exist in Berlin on 2026-03-29: it opens at 03:00 local.
    let w = Window::parse("02:30", "05:00", "Europe/Berlin").expect("window");
    let before = utc("2026-03-29T00:30:00Z");
    assert!(!w.is_open(before));
    assert_eq!(w.next_change(before), utc("2026-03-29T01:00:00Z"));
    assert!(w.is_open(utc("2026-03-29T01:00:00Z")));
}

#[test]
fn bad_windows_name_the_field() {
    let bad: &[(&str, &str, &str, &str)] = &[
        ("9am", "20:00", "UTC", "start \"9am\""),
        ("09:00", "25:00", "UTC", "end \"25:00\""),
        ("09:00", "20:00", "Mars/Olympus", "tz \"Mars/Olympus\""),
        ("09:00", "09:00", "UTC", "empty"),
    ];
    assert!(!bad.is_empty());
    for (s, e, tz, want) in bad {
        let err = Window::parse(s, e, tz).expect_err(want).to_string();
        assert!(err.contains(want), "{err}");
    }
    assert!(Window::parse_range("0900", "UTC").is_err());
}
