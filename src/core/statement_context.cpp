#include "bemi/statement_context.hpp"

#include <unordered_set>
#include <vector>

#include "bemi/context.hpp"
#include "bemi/json_escape.hpp"
#include "bemi/json_object.hpp"
#include "bemi/sql_scanner.hpp"

namespace bemi {

namespace {

constexpr std::string_view kOpen = "/*Bemi";
constexpr std::string_view kClose = "Bemi*/";

struct StringSink {
    std::string &s;
    void append(const char *p, size_t n) { s.append(p, n); }
};

std::string undouble_percent(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        out.push_back(s[i]);
        if (s[i] == '%' && i + 1 < s.size() && s[i + 1] == '%')
            ++i;
    }
    return out;
}

// Characters urllib.parse.quote() escapes even with bemi-django's safe set, so they never
// appear literally in its output.
bool looks_percent_encoded(std::string_view s) {
    if (s.find('%') == std::string_view::npos)
        return false;
    for (unsigned char c : s)
        if (c < 0x20 || c >= 0x7F || std::string_view("*;?&#+<>!@$|^`").find(static_cast<char>(c)) != std::string_view::npos)
            return false;
    return true;
}

// Is every '%' part of a "%%" pair (the statement ran without parameters)?
bool all_percents_doubled(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%')
            continue;
        if (i + 1 >= s.size() || s[i + 1] != '%')
            return false;
        ++i;
    }
    return true;
}

CommentContext invalid(std::string_view content, const char *reason) {
    CommentContext c;
    c.kind = CommentContext::Kind::Invalid;
    c.reason = reason;
    std::string excerpt;
    append_utf8_excerpt(excerpt, content, kInvalidContextExcerptBytes);
    StringSink sink{c.object};
    c.object = "{\"_invalid_comment\":";
    append_json_string(sink, excerpt.data(), excerpt.size());
    c.object += ",\"_invalid_comment_reason\":";
    append_json_string(sink, reason, std::char_traits<char>::length(reason));
    c.object += "}";
    return c;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_sql_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_sql_space(s.back()))
        s.remove_suffix(1);
    return s;
}

} // namespace

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            const int hi = detail::hex_value(s[i + 1]);
            const int lo = detail::hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

StatementText find_statement(std::string_view source, int location, int length,
                             bool standard_conforming_strings) noexcept {
    const size_t total = source.size();
    size_t begin = 0;
    size_t sql_end = total;
    if (location >= 0 && static_cast<size_t>(location) <= total) {
        begin = static_cast<size_t>(location);
        if (length > 0 && static_cast<size_t>(length) <= total - begin)
            sql_end = begin + static_cast<size_t>(length);
    }

    // The next statement starts right after this one's ';' (the parser's stmt_location). If
    // nothing but whitespace, comments and empty statements follows, there is no next one and
    // the rest of the string (a marker after the final ';' included) is this statement's.
    size_t extent_end = total;
    if (sql_end < total) {
        SqlScanner rest(source, standard_conforming_strings, sql_end);
        for (SqlSpan s = rest.next(); s.kind != SqlSpanKind::End; s = rest.next()) {
            if (s.kind == SqlSpanKind::Space || s.kind == SqlSpanKind::Semicolon ||
                s.kind == SqlSpanKind::LineComment || s.kind == SqlSpanKind::BlockComment)
                continue;
            extent_end = source[sql_end] == ';' ? sql_end + 1 : sql_end;
            break;
        }
    }

    // The marker is the statement's last comment, followed by nothing but whitespace and ';'.
    SqlSpan marker{SqlSpanKind::End, 0, 0, true};
    bool have_marker = false;
    SqlScanner scanner(source.substr(0, extent_end), standard_conforming_strings, begin);
    for (SqlSpan s = scanner.next(); s.kind != SqlSpanKind::End; s = scanner.next()) {
        if (s.kind == SqlSpanKind::Space || s.kind == SqlSpanKind::Semicolon)
            continue;
        // Compared within the span: a location and length that are not the parser's could
        // end the extent inside a comment.
        have_marker = s.kind == SqlSpanKind::BlockComment &&
                      source.substr(s.begin, s.end - s.begin).substr(0, kOpen.size()) == kOpen;
        if (have_marker)
            marker = s;
    }

    StatementText out;
    size_t cut = sql_end;
    if (have_marker) {
        const std::string_view comment = source.substr(marker.begin, marker.end - marker.begin);
        const size_t body = kOpen.size();
        // "/*Bemi" and "Bemi*/" may not overlap: "/*Bemi*/" has no closing marker.
        if (marker.terminated && comment.size() >= body + kClose.size() &&
            comment.substr(comment.size() - kClose.size()) == kClose) {
            out.marker = StatementText::Marker::Closed;
            out.body = comment.substr(body, comment.size() - body - kClose.size());
        } else {
            out.marker = StatementText::Marker::NotClosed;
            const size_t closing = marker.terminated ? 2 : 0; // its "*/"
            out.body = comment.substr(body, comment.size() - body - closing);
        }
        if (marker.begin < cut)
            cut = marker.begin;
    }
    size_t first = begin;
    while (first < cut && is_sql_space(source[first]))
        ++first;
    while (cut > first && is_sql_space(source[cut - 1]))
        --cut;
    out.sql = source.substr(first, cut - first);
    return out;
}

CommentContext read_marker(const StatementText &statement, size_t max_bytes) {
    if (statement.marker == StatementText::Marker::None)
        return {};
    if (statement.marker == StatementText::Marker::NotClosed)
        return invalid(statement.body, "comment has no closing Bemi*/");
    const std::string_view content = trim(statement.body);
    if (content.size() > max_bytes)
        return invalid(content, "larger than bemi.max_context_bytes");

    // bemi-django after 0.0.5 sends urllib.parse.quote(json) with every '%' then doubled for the
    // driver's parameter substitution, which undoes the doubling only when the statement had
    // parameters (the ORM always passes them). Plain JSON may legitimately contain "%", so
    // decode only text that looks quoted: a '%' and none of the characters quote() escapes.
    const bool raw_valid = check_context(content, max_bytes).valid;
    if (raw_valid && !looks_percent_encoded(content))
        return {CommentContext::Kind::Valid, std::string(content), nullptr};
    std::string decoded = percent_decode(all_percents_doubled(content) ? undouble_percent(content) : std::string(content));
    if (check_context(decoded, max_bytes).valid)
        return {CommentContext::Kind::Valid, std::move(decoded), nullptr};
    if (raw_valid)
        return {CommentContext::Kind::Valid, std::string(content), nullptr};
    return invalid(content, check_context(content, max_bytes).reason);
}

CommentContext read_comment_context(std::string_view statement, size_t max_bytes) {
    return read_marker(find_statement(statement, 0, 0, true), max_bytes);
}

size_t context_message_bound(size_t context_len, size_t comment_len, size_t sql_len) {
    // A valid comment's object is at most its text; an invalid one is a marker of bounded size.
    comment_len += kInvalidContextMarkerMaxBytes;
    // Renaming "SQL" to "client_SQL" adds 7 bytes a member; a member takes at least 6 bytes.
    const size_t renames = 2 * (context_len + comment_len) + 64;
    return context_len + comment_len + 6 * sql_len + renames + 64;
}

std::string build_context_message(std::string_view context, const CommentContext &comment, std::string_view sql,
                                  bool include_sql) {
    std::vector<JsonMember> from_context;
    if (!trim(context).empty())
        from_context = object_members(context);
    std::vector<JsonMember> from_comment;
    if (comment.kind != CommentContext::Kind::None)
        from_comment = object_members(comment.object);

    auto effective = [](const JsonMember &m) -> std::string_view {
        return m.key == "SQL" ? std::string_view(kClientSqlKey) : std::string_view(m.key);
    };
    std::unordered_set<std::string_view> overridden;
    for (const auto &m : from_comment)
        overridden.insert(effective(m));

    std::string out = "{";
    StringSink sink{out};
    bool first = true;
    auto member = [&](const JsonMember &m) {
        if (!first)
            out += ',';
        first = false;
        if (m.key == "SQL")
            append_json_string(sink, kClientSqlKey, sizeof(kClientSqlKey) - 1);
        else
            out.append(m.raw_key);
        out += ':';
        append_json_single_line(sink, m.raw_value.data(), m.raw_value.size());
    };
    for (const auto &m : from_context)
        if (!overridden.count(effective(m)))
            member(m);
    for (const auto &m : from_comment)
        member(m);
    if (include_sql) {
        if (!first)
            out += ',';
        out += "\"SQL\":";
        append_json_string(sink, sql.data(), sql.size());
    }
    out += '}';
    return out;
}

} // namespace bemi
