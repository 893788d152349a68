"""The dashboard's entry point (`streamlit run app.py`, or `llm-compare ui`): page setup and navigation."""


def main() -> None:
    import logging

    import streamlit as st

    from llm_compare.ui.errors import guard
    from llm_compare.ui.host_check import stop_unless_allowed_host
    from llm_compare.ui.layout import sidebar

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop_unless_allowed_host()  # before anything is drawn: a page under a rebound name gets nothing
    # The tab's icon is an emoji, which the browser draws itself: a :material/ icon there is
    # fetched from Google's font server, and shows nothing offline. (The pages' :material/ icons
    # come from the font Streamlit ships.)
    st.set_page_config(page_title="llm-compare", page_icon="🆚", layout="wide")
    page = st.navigation(
        [
            st.Page("pages/models.py", title="Models", icon=":material/dataset:", default=True),
            st.Page("pages/configure.py", title="Configure", icon=":material/tune:"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
            st.Page("pages/benchmark.py", title="Benchmark", icon=":material/speed:"),
            st.Page("pages/results.py", title="Results", icon=":material/monitoring:"),
            st.Page("pages/quality.py", title="Quality", icon=":material/grading:"),
            st.Page("pages/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:"),
        ]
    )
    with guard("The sidebar"):
        sidebar()
    with guard(f"The {page.title} page"):
        page.run()


# Streamlit runs this file as "__main__"; importing it (a test, a tool) draws nothing.
if __name__ == "__main__":
    main()
