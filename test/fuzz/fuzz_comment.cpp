// The comment parser (sql_scanner + statement_context): the scanner's spans tile the text,
// a statement and its marker stay inside their query string, "SQL" never reaches into the
// marker, and the message built from them is always one valid JSON object within its bound.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "bemi/sql_scanner.hpp"
#include "bemi/statement_context.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // Header: flags (bit 0: standard_conforming_strings off), location and length (signed
    // 16 bits each, so out-of-range values are reached too), then the query string.
    if (size < 5)
        return 0;
    const bool standard_strings = (data[0] & 1) == 0;
    const int location = static_cast<int16_t>(data[1] | (data[2] << 8));
    const int length = static_cast<int16_t>(data[3] | (data[4] << 8));
    const std::string source(reinterpret_cast<const char *>(data + 5), size - 5);
    const std::string_view view(source);

    bemi::SqlScanner scanner(view, standard_strings);
    size_t covered = 0;
    for (bemi::SqlSpan s = scanner.next();; s = scanner.next()) {
        FUZZ_CHECK(s.begin == covered);
        if (s.kind == bemi::SqlSpanKind::End) {
            FUZZ_CHECK(s.end == source.size());
            break;
        }
        FUZZ_CHECK(s.end > s.begin && s.end <= source.size());
        FUZZ_CHECK(std::strlen(bemi::sql_span_kind_name(s.kind)) > 0);
        if (!s.terminated)
            FUZZ_CHECK(s.end == source.size());
        covered = s.end;
    }

    const bemi::StatementText statement = bemi::find_statement(view, location, length, standard_strings);
    auto inside = [&](std::string_view part) {
        return part.empty() || (part.data() >= view.data() && part.data() + part.size() <= view.data() + view.size());
    };
    FUZZ_CHECK(inside(statement.sql));
    FUZZ_CHECK(inside(statement.body));
    if (statement.marker != bemi::StatementText::Marker::None) {
        const char *marker = statement.body.data() - 6;
        FUZZ_CHECK(marker >= view.data() && std::string_view(marker, 6) == "/*Bemi");
        FUZZ_CHECK(statement.sql.data() + statement.sql.size() <= marker);
    }

    const bemi::CommentContext comment = bemi::read_marker(statement, 4096);
    FUZZ_CHECK((comment.kind == bemi::CommentContext::Kind::None) ==
               (statement.marker == bemi::StatementText::Marker::None));
    if (comment.kind != bemi::CommentContext::Kind::None)
        FUZZ_CHECK(fuzz::is_object(comment.object));

    const std::string message = bemi::build_context_message("", comment, statement.sql, true);
    FUZZ_CHECK(message.size() <= bemi::context_message_bound(0, statement.body.size(), statement.sql.size()));
    FUZZ_CHECK(message.find('\n') == std::string::npos);
    bool beyond_double = false;
    // A location and length that are not the parser's can cut a character in half.
    if (fuzz::valid_utf8(std::string(statement.sql))) {
        FUZZ_CHECK(fuzz::is_object(message, &beyond_double));
        if (!beyond_double)
            FUZZ_CHECK(fuzz::parse(message)["SQL"] == std::string(statement.sql));
    }
    return 0;
}
