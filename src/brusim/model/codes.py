"""Every code the model writes into its arrays and logs, defined once.

Python reads the enums and name tuples; compiled kernels read the ``np.int64`` constants below
(numba freezes module globals at compile time, and an ``np.int64`` rather than a plain ``int``
keeps a callee from being compiled once per value, see `brusim.model.events`). Each constant is
derived from its enum, so the two cannot disagree.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class DealerStatus(IntEnum):
    ACTIVE = 0      # on the street (selling when on shift)
    LYING_LOW = 1   # away after feeling at risk, until ``until``
    CUSTODY = 2     # arrested, released without prosecution at ``until``
    PRISON = 3      # prosecuted, back to the reserve at ``until``
    RESERVE = 4     # not dealing; recruits come from here


class UserStatus(IntEnum):
    IDLE = 0        # at home
    SEARCHING = 1   # on the way to a market, or looking for a seller there
    LINGERING = 2   # using in public near the site
    TREATMENT = 3   # in treatment (after an outreach referral), until ``until``
    RECOVERED = 4   # out of the market
    OFFSTREET = 5   # buying off the street (phone, delivery), until ``until``


class PoliceRole(IntEnum):
    PATROL = 0
    FOCUS = 1


class EventType(IntEnum):
    TRANSACTION = 0
    PUBLIC_USE = 1
    ROOM_ENTRY = 2
    VIOLENT_INCIDENT = 3
    ARREST = 4
    RELEASE_WITHOUT_PROSECUTION = 5
    PROSECUTION = 6
    OUTREACH_CONTACT = 7
    TREATMENT_ENTRY = 8
    UNSERVED_SEARCH = 9
    DEALER_MOVE = 10
    DEALER_LIE_LOW = 11
    RECRUITMENT = 12


DEALER_STATUS_NAMES = tuple(s.name.lower() for s in DealerStatus)
USER_STATUS_NAMES = tuple(s.name.lower() for s in UserStatus)
EVENT_NAMES = tuple(e.name.lower() for e in EventType)

# recorded metrics, by column (brusim.model.recorder)
METRICS = (
    "dealers_active",       # state: sellers on their site and on shift (mean over the interval)
    "dealer_hours",         # sellers present × hours
    "transactions",
    "public_use",
    "room_entries",
    "violent_incidents",
    "arrests",
    "releases_without_prosecution",
    "prosecutions",
    "police_hours",         # on-duty unit-hours present
    "outreach_contacts",
    "treatment_entries",
    "unserved_searches",    # failed purchase attempts (demand without a seller)
    "users_searching",      # state: users out searching (mean over the interval)
    "offstreet_purchases",  # purchases off the street (phone, delivery), at the buyer's home
    "offstreet_switches",   # users turning from the street to the off-street channel
    "offstreet_returns",    # users coming back to the street market
    "users_offstreet",      # state: users buying off the street (mean over the interval)
)
METRIC_INDEX = {m: i for i, m in enumerate(METRICS)}
STATE_METRICS = ("dealers_active", "users_searching", "users_offstreet")

# ---------------------------------------------------------------- constants for the kernels
ACTIVE, LYING_LOW, CUSTODY, PRISON, RESERVE = (np.int64(s) for s in DealerStatus)
IDLE, SEARCHING, LINGERING, TREATMENT, RECOVERED, OFFSTREET = (np.int64(s) for s in UserStatus)
PATROL, FOCUS = (np.int64(r) for r in PoliceRole)

EV_TRANSACTION = np.int64(EventType.TRANSACTION)
EV_PUBLIC_USE = np.int64(EventType.PUBLIC_USE)
EV_ROOM_ENTRY = np.int64(EventType.ROOM_ENTRY)
EV_VIOLENT_INCIDENT = np.int64(EventType.VIOLENT_INCIDENT)
EV_ARREST = np.int64(EventType.ARREST)
EV_RELEASE = np.int64(EventType.RELEASE_WITHOUT_PROSECUTION)
EV_PROSECUTION = np.int64(EventType.PROSECUTION)
EV_OUTREACH_CONTACT = np.int64(EventType.OUTREACH_CONTACT)
EV_TREATMENT_ENTRY = np.int64(EventType.TREATMENT_ENTRY)
EV_UNSERVED_SEARCH = np.int64(EventType.UNSERVED_SEARCH)
EV_DEALER_MOVE = np.int64(EventType.DEALER_MOVE)
EV_DEALER_LIE_LOW = np.int64(EventType.DEALER_LIE_LOW)
EV_RECRUITMENT = np.int64(EventType.RECRUITMENT)

M_DEALERS_ACTIVE = np.int64(METRIC_INDEX["dealers_active"])
M_DEALER_HOURS = np.int64(METRIC_INDEX["dealer_hours"])
M_TRANSACTIONS = np.int64(METRIC_INDEX["transactions"])
M_PUBLIC_USE = np.int64(METRIC_INDEX["public_use"])
M_ROOM_ENTRIES = np.int64(METRIC_INDEX["room_entries"])
M_VIOLENT_INCIDENTS = np.int64(METRIC_INDEX["violent_incidents"])
M_ARRESTS = np.int64(METRIC_INDEX["arrests"])
M_RELEASES = np.int64(METRIC_INDEX["releases_without_prosecution"])
M_PROSECUTIONS = np.int64(METRIC_INDEX["prosecutions"])
M_POLICE_HOURS = np.int64(METRIC_INDEX["police_hours"])
M_OUTREACH_CONTACTS = np.int64(METRIC_INDEX["outreach_contacts"])
M_TREATMENT_ENTRIES = np.int64(METRIC_INDEX["treatment_entries"])
M_UNSERVED = np.int64(METRIC_INDEX["unserved_searches"])
M_SEARCHING = np.int64(METRIC_INDEX["users_searching"])
M_OFFSTREET_PURCHASES = np.int64(METRIC_INDEX["offstreet_purchases"])
M_OFFSTREET_SWITCHES = np.int64(METRIC_INDEX["offstreet_switches"])
M_OFFSTREET_RETURNS = np.int64(METRIC_INDEX["offstreet_returns"])
M_OFFSTREET = np.int64(METRIC_INDEX["users_offstreet"])

# What a random draw is for: the ``purpose`` word of its Philox counter (`brusim.model.rng`).
# Each draw site has its own code, so no two sites ever share a number.
D_PATROL_POST = np.int64(1)      # police: a patrol unit's node at a step
D_ARREST = np.int64(2)           # police: a seller within reach is arrested
D_FOCUS_PICK = np.int64(3)       # strategies: which on-duty units go to the focus
D_FOCUS_TARGET = np.int64(4)     # strategies: which hotspot a focus unit goes to
D_FOCUS_PLACE = np.int64(5)      # police: the node of a focus unit within the perimeter
D_COURT_ORDER = np.int64(6)      # courts: the order the arrested are prosecuted in
D_SITE_MATE = np.int64(7)        # dealers: the crew-mate whose site is a candidate
D_SITE_MARKET = np.int64(8)      # dealers: the known market that is a candidate
D_SITE_SAMPLE = np.int64(9)      # dealers: the random candidate nodes
D_SITE_NOISE = np.int64(10)      # dealers: the Gumbel noise per candidate
D_RECRUIT = np.int64(11)         # dealers: a missing crew member is recruited
D_RECRUIT_SITE = np.int64(12)    # dealers: a recruit's first site
D_RELAPSE = np.int64(13)         # users: relapse at the end of treatment
D_CRAVING = np.int64(14)         # users: an idle user starts craving
D_LOYALTY = np.int64(15)         # users: a searcher returns to the last market
D_MARKET_RACE = np.int64(16)     # users: the exponential race between known markets
D_SELLER_NOISE = np.int64(17)    # users: the tie-break between sites on arrival
D_SELLER = np.int64(18)          # users: which seller at the site
D_ROOM_WILLING = np.int64(19)    # users: a buyer is willing to use the room
D_ROOM_ORDER = np.int64(20)      # rooms: the order a full room admits in
D_PUBLIC_USE = np.int64(21)      # users: a buyer uses in public
D_WORKER_MOVE = np.int64(22)     # outreach: a worker's node within the hotspot
D_CONTACT = np.int64(23)         # outreach: a present user is contacted
D_CONTACT_CAP = np.int64(24)     # outreach: who is kept when contacts exceed the cap
D_TREATMENT = np.int64(25)       # outreach: a contacted user enters treatment
D_TREATMENT_WEEKS = np.int64(26)  # outreach: the length of a treatment
D_VIOLENCE = np.int64(27)        # violence: an incident in a contested cell
D_RECOVERED_STAY = np.int64(28)  # users: how long a recovery lasts
D_STOCK_PICK = np.int64(29)      # spin-up: which idle users fill the treatment/recovered stocks
D_STOCK_STAY = np.int64(30)      # spin-up: the remaining time of a pre-loaded treatment/recovery
D_CHANNEL = np.int64(31)         # demand: a craving user turns to the off-street channel
D_OFFSTREET_STAY = np.int64(32)  # demand: how long a user stays off the street
D_SUPPLY_QUIT = np.int64(33)     # supply: how many of a crew's surplus members leave today
D_SUPPLY_PICK = np.int64(34)     # supply: which members leave
