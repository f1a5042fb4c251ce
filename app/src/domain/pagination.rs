//! Pages of long lists.

/// A requested page of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    /// Items per page of admin lists.
    pub const DEFAULT_PER_PAGE: u32 = 25;

    /// Reads `?page=` leniently: anything unusable is page 1.
    pub fn from_query(page: Option<&str>) -> Self {
        let page = page
            .and_then(|p| p.trim().parse::<u32>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1);
        Self {
            page: page.min(100_000),
            per_page: Self::DEFAULT_PER_PAGE,
        }
    }

    /// SQL offset.
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    /// SQL limit.
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }
}

/// One page of results with what the pager needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

impl<T> Page<T> {
    /// Number of pages (at least 1).
    pub fn pages(&self) -> u32 {
        let per = i64::from(self.per_page.max(1));
        u32::try_from(((self.total + per - 1) / per).max(1)).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_are_read_leniently() {
        assert_eq!(PageRequest::from_query(Some("3")).page, 3);
        for junk in [None, Some("0"), Some("-1"), Some("abc"), Some("")] {
            assert_eq!(PageRequest::from_query(junk).page, 1, "{junk:?}");
        }
        assert_eq!(PageRequest::from_query(Some("3")).offset(), 50);
    }

    #[test]
    fn page_counts_round_up() {
        let page = |total| Page::<()> {
            items: vec![],
            page: 1,
            per_page: 25,
            total,
        };
        assert_eq!(page(0).pages(), 1);
        assert_eq!(page(25).pages(), 1);
        assert_eq!(page(26).pages(), 2);
    }
}
