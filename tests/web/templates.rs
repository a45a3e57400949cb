//! A collection's template: its items as columns, as CSV or as a workbook that explains each
//! item, from the collection's page. A file filled in from it has the columns landing reads.

use crate::common;

use axum::http::{StatusCode, header};
use common::web::spawn;
use common::world::{CENSUS, HOMES};

#[tokio::test]
async fn the_template_has_the_items_as_columns_and_a_sheet_that_explains_them() {
    let t = spawn(None).await;
    // The CSV's one line is the header the world's own extracts have.
    for (slug, header) in [("ward-bed-census", CENSUS), ("care-home-capacity", HOMES)] {
        let csv = t
            .page(&format!("/collections/{slug}/template/csv"), None)
            .await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(
            csv.headers[header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"{slug}-template.csv\"").as_str()
        );
        assert_eq!(csv.text().trim_end(), header);
    }
    let xlsx = t
        .page("/collections/care-home-capacity/template/xlsx", None)
        .await;
    assert_eq!(xlsx.status, StatusCode::OK);
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx.body)).unwrap();
    assert_eq!(book.sheet_names(), ["data", "items", "about"]);
    let data = book.worksheet_range("data").unwrap();
    let columns: Vec<String> = data
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(columns.join(","), HOMES);
    let items = book.worksheet_range("items").unwrap();
    let capacity: Vec<String> = items
        .rows()
        .find(|r| r[0] == "max_capacity")
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        &capacity[..4],
        ["max_capacity", "a whole number", "yes", "0 to 400"]
    );
    assert!(
        capacity[6].contains("registered and able to provide"),
        "{capacity:?}"
    );
    // A provider finds the templates of what it may upload beside the upload form.
    let me = t.sign_in(&t.tokens.provider).await;
    let mine = t.page("/providers/RXA", Some(&me)).await.text();
    assert!(
        mine.contains("/collections/ward-bed-census/template/csv"),
        "{mine}"
    );
    // The page links both; an unknown form or collection is not found.
    let page = t.page("/collections/care-home-capacity", None).await.text();
    assert!(page.contains("/collections/care-home-capacity/template/xlsx"));
    assert_eq!(
        t.page("/collections/care-home-capacity/template/pdf", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.page("/collections/no-such-thing/template/csv", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
