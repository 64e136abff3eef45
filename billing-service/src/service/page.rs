//! Cursor pagination shared by every list: `limit` (1..=[`MAX_PAGE`],
//! default [`DEFAULT_PAGE`]) and an opaque `cursor` (hex of the list's own
//! position text). Lists read `limit + 1` rows to know whether a next page
//! exists, so the last page carries no cursor.
use std::collections::HashMap;

use super::ServiceError;
use crate::api::{Page, DEFAULT_PAGE, MAX_PAGE};

/// Longest cursor accepted (hex digits).
const MAX_CURSOR: usize = 512;

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items wanted, 1..=[`MAX_PAGE`].
    pub limit: u32,
    /// The decoded cursor: where the previous page ended.
    pub after: Option<String>,
}

fn bad(m: &str) -> ServiceError {
    ServiceError::BadRequest(m.to_string())
}

impl PageRequest {
    /// Reads `limit` and `cursor` from query parameters; any parameter not
    /// named in `allowed` (besides those two) is refused.
    pub fn parse(q: &HashMap<String, String>, allowed: &[&str]) -> Result<Self, ServiceError> {
        if let Some(k) = q
            .keys()
            .find(|k| !matches!(k.as_str(), "limit" | "cursor") && !allowed.contains(&k.as_str()))
        {
            return Err(ServiceError::BadRequest(format!(
                "unknown query parameter {k:?}"
            )));
        }
        let limit = match q.get("limit") {
            None => DEFAULT_PAGE,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .ok_or_else(|| bad("limit: an integer from 1 to 100"))?,
        };
        let after = match q.get("cursor") {
            None => None,
            Some(c) => {
                let text = (c.len() <= MAX_CURSOR)
                    .then(|| hex::decode(c).ok())
                    .flatten()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| bad("cursor: malformed"))?;
                Some(text)
            }
        };
        Ok(PageRequest { limit, after })
    }

    /// Rows to read: one more than the page, to see whether another follows.
    pub fn fetch(&self) -> u32 {
        self.limit + 1
    }

    /// Builds the page from up to [`PageRequest::fetch`] rows; `position`
    /// gives the cursor text of an item (where the next page starts after).
    pub fn page<T>(&self, mut rows: Vec<T>, position: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = more
            .then(|| rows.last().map(|r| hex::encode(position(r))))
            .flatten();
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// A cursor that decoded but does not name a position of this list.
pub(crate) fn bad_cursor() -> ServiceError {
    bad("cursor: malformed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limits_and_cursors_are_bounded_and_typed() -> Result<(), Box<dyn std::error::Error>> {
        let p = PageRequest::parse(&q(&[]), &[])?;
        assert_eq!((p.limit, p.after), (DEFAULT_PAGE, None));
        for l in ["0", "101", "-1", "x", ""] {
            assert!(PageRequest::parse(&q(&[("limit", l)]), &[]).is_err(), "{l}");
        }
        for c in ["zz", "", "ff", &"61".repeat(300)] {
            assert!(
                PageRequest::parse(&q(&[("cursor", c)]), &[]).is_err(),
                "{c}"
            );
        }
        assert!(PageRequest::parse(&q(&[("room", "x")]), &[]).is_err());
        let p = PageRequest::parse(&q(&[("cursor", "6162"), ("room", "x")]), &["room"])?;
        assert_eq!(p.after.as_deref(), Some("ab"));
        let page = PageRequest {
            limit: 2,
            after: None,
        }
        .page(vec![1, 2, 3], |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("32"));
        let last = PageRequest {
            limit: 2,
            after: None,
        }
        .page(vec![1, 2], |n| n.to_string());
        assert_eq!(last.next_cursor, None);
        Ok(())
    }
}
