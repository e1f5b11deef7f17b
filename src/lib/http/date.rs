//! HTTP dates (IMF-fixdate, RFC 9110 §5.6.7), formatted without a time crate and
//! cached per second by the caller's `DateCache`.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "Sun, 06 Nov 1994 08:49:37 GMT" for seconds since the Unix epoch.
pub fn http_date(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Howard Hinnant's days → (year, month, day) for the proleptic Gregorian calendar.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The formatted date of the current second, re-formatted only when it changes.
#[derive(Default)]
pub struct DateCache {
    secs: u64,
    text: String,
}

impl DateCache {
    pub fn get(&mut self, unix_secs: u64) -> &str {
        if self.text.is_empty() || self.secs != unix_secs {
            self.secs = unix_secs;
            self.text = http_date(unix_secs);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1_795_046_400), "Thu, 19 Nov 2026 00:00:00 GMT");
    }

    #[test]
    fn cache_reformats_on_a_new_second() {
        let mut c = DateCache::default();
        assert_eq!(c.get(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(c.get(1), "Thu, 01 Jan 1970 00:00:01 GMT");
    }
}
