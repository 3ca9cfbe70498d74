"""The made-up organisation demo-company fills a store with: teams, names and post themes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Team:
    name: str
    weight: int
    titles: tuple[str, ...]


TEAMS = (
    Team("Engineering", 22, ("Software engineer", "Senior software engineer", "Engineering manager")),
    Team("Sales", 14, ("Account executive", "Sales manager", "Business developer")),
    Team("Customer success", 10, ("Customer success manager", "Support specialist")),
    Team("Operations", 12, ("Operations manager", "Logistics coordinator", "Planner")),
    Team("Product", 6, ("Product manager", "Product designer", "UX researcher")),
    Team("Data", 5, ("Data scientist", "Data engineer", "Analyst")),
    Team("Finance", 5, ("Controller", "Financial analyst")),
    Team("People", 4, ("Recruiter", "HR business partner", "Learning specialist")),
    Team("Legal", 2, ("Legal counsel", "Privacy officer")),
    Team("Field service", 16, ("Service engineer", "Field technician", "Team lead field service")),
    Team("Consultancy", 10, ("Consultant", "Senior consultant", "Principal consultant")),
)
MARKETING_TEAM = Team("Marketing", 0, ("Brand manager", "Content marketeer", "Social media manager"))
ADMIN_TEAM = Team("IT", 0, ("IT specialist", "Workplace engineer"))

FIRST_NAMES = (
    "Daan", "Sanne", "Lucas", "Emma", "Sem", "Julia", "Levi", "Tess", "Finn", "Sophie", "Milan",
    "Anna", "Bram", "Lotte", "Thijs", "Eva", "Ruben", "Fleur", "Jesse", "Noor", "Lars", "Isa",
    "Thomas", "Maud", "Stijn", "Femke", "Mohammed", "Yara", "Omar", "Aylin", "Priya", "Arjun",
    "Chen", "Mei", "Olga", "Piotr", "Lucía", "Mateo", "Grace", "James", "Fatima", "Hugo",
)  # fmt: skip
LAST_NAMES = (
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
    "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
    "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer",
    "Yilmaz", "El Amrani", "Kowalski", "García", "Patel", "Wang", "Smith", "Müller", "Novak",
)  # fmt: skip


@dataclass(frozen=True)
class Theme:
    key: str
    title: str
    set_name: str
    hashtags: tuple[str, ...]
    en: str
    nl: str


THEMES = (
    Theme(
        "hiring", "We are hiring", "Employer brand", ("#WorkingAtNorthwind", "#Hiring", "#TeamSpirit"),
        "Working in {team} as a {job_title} means hard problems and kind colleagues. We are growing "
        "again: have a look at the open roles, or send me a message.",
        "Als {job_title} bij {team} werk ik aan mooie vraagstukken met fijne collega's. We groeien "
        "weer: kijk naar de vacatures of stuur me een bericht.",
    ),
    Theme(
        "launch", "Product launch", "Product news", ("#ProductLaunch", "#Innovation", "#Northwind"),
        "Today we launch something my colleagues in {team} worked on for months. Proud of this team!",
        "Vandaag lanceren we iets waar mijn collega's van {team} maanden aan werkten. Trots op dit team!",
    ),
    Theme(
        "green", "Sustainability update", "Sustainability", ("#Sustainability", "#NetZero"),
        "Our climate plan is not a slide deck: this year we cut emissions again. What I do as "
        "{job_title} is part of it.",
        "Ons klimaatplan is geen presentatie: ook dit jaar stoten we minder uit. Mijn werk als "
        "{job_title} hoort daarbij.",
    ),
    Theme(
        "customer", "Customer story", "Customer stories", ("#CustomerSuccess", "#Northwind"),
        "What a customer told us this week made my day. This is why I work in {team}.",
        "Wat een klant ons deze week vertelde, maakte mijn dag. Daarom werk ik bij {team}.",
    ),
    Theme(
        "event", "Meet us at the fair", "Events", ("#Events", "#MeetNorthwind"),
        "Next week you can find me and my colleagues at the fair. Come by and say hello!",
        "Volgende week sta ik met collega's op de beurs. Kom langs en zeg hallo!",
    ),
    Theme(
        "culture", "Life at Northwind", "Culture", ("#LifeAtNorthwind", "#Culture"),
        "A day in the life of a {job_title}: coffee, code reviews and a lot of laughing.",
        "Een dag uit het leven van een {job_title}: koffie, overleg en veel lachen.",
    ),
    Theme(
        "award", "We won an award", "Awards", ("#Award", "#Proud"),
        "We won! Thank you to everyone in {team} and beyond who made this happen.",
        "We hebben gewonnen! Dank aan iedereen bij {team} en daarbuiten die dit mogelijk maakte.",
    ),
    Theme(
        "milestone", "A milestone", "Milestones", ("#Milestone", "#Growth"),
        "A milestone for all of us, and I got to be part of it as {job_title}.",
        "Een mijlpaal voor ons allemaal, en ik mocht er als {job_title} aan meewerken.",
    ),
)  # fmt: skip

FORMAL_EN = "As {job_title} in {team}, I am glad to share this. "
FORMAL_NL = "Als {job_title} bij {team} deel ik dit graag. "
