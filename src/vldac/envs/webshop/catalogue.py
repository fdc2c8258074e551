"""WebShop's shop, generated offline from a seed: products and the shopping instructions whose
targets they are (the original's 1.18M scraped products and crowd-written instructions cannot be
downloaded, so vldac makes a catalogue of the same shape).

A product has the original's fields: ``asin``, ``name`` (= its title), ``category``, ``query``
(the search that would find it), ``product_category`` ("A › B › C"), ``description``,
``bullet_points``, ``attributes`` (the phrases an instruction may ask for), ``options`` (option
name -> values, lower case, e.g. size and colour), ``pricing`` (one price or a low/high range),
``rating`` and ``reviews``. Its purchase price is drawn in its range once, from the seed, and
never shown (as the original's is). A goal names one product, some of its attributes, one value of
each of its options and a price bound: the original's ``price_upper`` (the larger of two of the
first four multiples of 10 above the price).

The name's nouns (its brand, material and kind of product) are known from the words it was made
of, so the reward's product-type check needs no tagger (``noun_lexicon``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

COLOURS = ("black", "white", "grey", "navy blue", "red", "green", "beige", "pink", "brown", "light blue")
CLOTHING_SIZES = ("x-small", "small", "medium", "large", "x-large", "xx-large")
SHOE_SIZES = ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "11", "12")


@dataclass(frozen=True)
class Kind:
    """A kind of product: its name in the singular and plural, the department it is sold in (the
    product category's path), the search query the original scraped it with, its materials (nouns
    that may appear in names), the attributes it can have, its options and its price range."""

    name: str
    plural: str
    path: tuple[str, ...]
    query: str
    materials: tuple[str, ...]
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    prices: tuple[float, float]


KINDS = (
    Kind("shirt", "shirts", ("Clothing, Shoes & Jewelry", "Men", "Clothing", "Shirts"), "men's shirts",
         ("cotton", "linen", "polyester"),
         ("slim fit", "long sleeve", "short sleeve", "button down", "machine wash", "wrinkle free", "relaxed fit"),
         {"color": COLOURS, "size": CLOTHING_SIZES}, (12, 60)),
    Kind("dress", "dresses", ("Clothing, Shoes & Jewelry", "Women", "Clothing", "Dresses"), "women's dresses",
         ("cotton", "chiffon", "polyester"),
         ("sleeveless", "v neck", "knee length", "machine wash", "high waist", "floral print"),
         {"color": COLOURS, "size": CLOTHING_SIZES}, (18, 90)),
    Kind("hoodie", "hoodies", ("Clothing, Shoes & Jewelry", "Men", "Clothing", "Hoodies"), "men's hoodies",
         ("fleece", "cotton"), ("pullover", "zip up", "machine wash", "relaxed fit", "long sleeve", "drawstring"),
         {"color": COLOURS, "size": CLOTHING_SIZES}, (20, 70)),
    Kind("sneaker", "sneakers", ("Clothing, Shoes & Jewelry", "Men", "Shoes", "Sneakers"), "men's sneakers",
         ("mesh", "leather", "canvas"), ("non slip", "rubber sole", "memory foam", "lace up", "arch support",
                                          "breathable"),
         {"color": COLOURS, "size": SHOE_SIZES}, (25, 120)),
    Kind("boot", "boots", ("Clothing, Shoes & Jewelry", "Women", "Shoes", "Boots"), "women's boots",
         ("leather", "suede"), ("water resistant", "rubber sole", "ankle high", "slip on", "faux fur lined"),
         {"color": ("black", "brown", "beige", "grey"), "size": SHOE_SIZES}, (30, 150)),
    Kind("shampoo", "shampoos", ("Beauty & Personal Care", "Hair Care", "Shampoo & Conditioner", "Shampoos"),
         "shampoo", ("argan oil", "coconut oil", "tea tree"),
         ("sulfate free", "paraben free", "cruelty free", "natural ingredients", "dry hair", "color safe"),
         {"size": ("8 fl oz", "12 fl oz", "16 fl oz", "pack of 2")}, (6, 35)),
    Kind("face cream", "face creams", ("Beauty & Personal Care", "Skin Care", "Face", "Moisturizers"),
         "face moisturizer", ("hyaluronic acid", "shea butter", "vitamin c"),
         ("fragrance free", "dry skin", "anti aging", "cruelty free", "long lasting", "sensitive skin"),
         {"size": ("1.7 oz", "3.4 oz", "pack of 2")}, (9, 60)),
    Kind("coffee", "coffees", ("Grocery & Gourmet Food", "Beverages", "Coffee", "Ground Coffee"), "ground coffee",
         ("arabica", "espresso roast"), ("organic", "fair trade", "medium roast", "dark roast", "decaf", "non gmo"),
         {"flavor": ("original", "vanilla", "hazelnut", "caramel"), "size": ("12 ounce", "2 pound", "pack of 3")},
         (7, 40)),
    Kind("snack bar", "snack bars", ("Grocery & Gourmet Food", "Snack Foods", "Bars", "Protein Bars"),
         "protein bars", ("peanut butter", "almond", "oat"),
         ("gluten free", "high protein", "low sugar", "non gmo", "keto friendly", "plant based"),
         {"flavor": ("chocolate", "peanut butter", "berry", "cookie dough"), "size": ("pack of 6", "pack of 12",
                                                                                     "pack of 24")}, (8, 45)),
    Kind("headphone", "headphones", ("Electronics", "Headphones, Earbuds & Accessories", "Headphones",
                                     "Over-Ear Headphones"), "wireless headphones", ("aluminum", "memory foam"),
         ("noise cancelling", "wireless", "bluetooth", "long battery life", "foldable", "built in microphone"),
         {"color": ("black", "white", "grey", "navy blue", "red")}, (20, 250)),
    Kind("phone case", "phone cases", ("Cell Phones & Accessories", "Cases, Holsters & Sleeves", "Basic Cases"),
         "phone case", ("silicone", "leather", "polycarbonate"),
         ("shockproof", "slim fit", "wireless charging compatible", "scratch resistant", "kickstand"),
         {"color": COLOURS, "size": ("iphone 13", "iphone 14", "iphone 15", "galaxy s23")}, (8, 40)),
    Kind("table lamp", "table lamps", ("Home & Kitchen", "Lighting & Ceiling Fans", "Lamps & Shades",
                                       "Table Lamps"), "table lamp", ("ceramic", "wood", "metal"),
         ("dimmable", "energy efficient", "usb port", "touch control", "bedside", "modern design"),
         {"color": ("black", "white", "grey", "beige", "brown")}, (18, 120)),
    Kind("throw pillow", "throw pillows", ("Home & Kitchen", "Bedding", "Decorative Pillows",
                                           "Throw Pillow Covers"), "throw pillow covers", ("velvet", "linen",
                                                                                           "cotton"),
         ("machine washable", "hidden zipper", "set of 2", "double sided", "soft", "farmhouse style"),
         {"color": COLOURS, "size": ("16x16 inch", "18x18 inch", "20x20 inch")}, (9, 45)),
)
SYLLABLES = ("ka", "lo", "ve", "ri", "zen", "mo", "ta", "qui", "bel", "nor", "sa", "dex", "fi", "lu", "pra", "vo",
             "xi", "ren", "ga", "tor")
PRICE_BOUNDS = tuple(range(10, 1000, 10))
"""The original's price bounds: multiples of 10 up to 990."""


@dataclass
class Product:
    asin: str
    name: str
    kind: str
    brand: str
    material: str
    category: str
    query: str
    product_category: str
    description: str
    bullet_points: list[str]
    attributes: list[str]
    options: dict[str, list[str]]
    pricing: list[float]
    price: float
    """The purchase price (in the pricing's range), never shown."""
    rating: float
    reviews: list[dict] = field(default_factory=list)

    @property
    def price_tag(self) -> str:
        """The price as the original shows it: "$12.99" or "$12.99 to $15.99"."""
        return " to ".join(f"${value}" for value in self.pricing)


@dataclass
class Goal:
    """A shopping instruction: the product it was made from (``asin``, ``name``, ``query``,
    ``category``, ``product_category``), the ``attributes`` and options (name -> value) it asks
    for, and the ``price_upper`` bound."""

    asin: str
    name: str
    query: str
    category: str
    product_category: str
    instruction: str
    attributes: list[str]
    options: dict[str, str]
    price_upper: float


@dataclass
class Catalogue:
    """Products by asin (in the order made), goals in the original's split order (shuffled with
    seed 233: the held-out instructions first), and the nouns product names are made of."""

    seed: int
    products: dict[str, Product]
    goals: list[Goal]
    held_out: int
    nouns: frozenset[str]

    def split(self, name: str) -> list[Goal]:
        """"train" or "test" (held-out) goals."""
        if name == "test":
            return self.goals[: self.held_out]
        if name == "train":
            return self.goals[self.held_out :]
        raise ValueError(f"WebShop split '{name}' is unknown; use train or test.")

    def to_json(self) -> dict:
        return {"seed": self.seed, "products": [asdict(product) for product in self.products.values()],
                "goals": [asdict(goal) for goal in self.goals], "held_out": self.held_out, "nouns": sorted(self.nouns)}


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _asin(rng: random.Random, taken: set[str]) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    while True:
        asin = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if asin not in taken:
            taken.add(asin)
            return asin


def make_product(kind: Kind, rng: random.Random, taken: set[str]) -> Product:
    brand, material = _brand(rng), rng.choice(kind.materials)
    attributes = rng.sample(kind.attributes, rng.randint(2, min(4, len(kind.attributes))))
    options = {name: sorted(rng.sample(values, rng.randint(2, len(values))), key=values.index)
               for name, values in kind.options.items()}
    low = round(rng.uniform(*kind.prices), 2)
    pricing = [low] if rng.random() < 0.6 else [low, round(low * rng.uniform(1.1, 1.6), 2)]
    price = pricing[0] if len(pricing) == 1 else round(rng.uniform(*pricing), 2)
    feature = rng.choice(attributes)
    name = f"{brand} {feature.title()} {material.title()} {kind.name.title()}"
    if rng.random() < 0.5:
        name += f" - {rng.choice(attributes).title()}"
    bullet_points = [f"{attribute.capitalize()}: made for everyday use." for attribute in attributes]
    bullet_points.append(f"Made of {material}.")
    description = (f"The {brand} {kind.name} is made of {material} and is {' and '.join(attributes[:2])}. "
                   f"Choose from {', '.join(f'{len(values)} {name}s' for name, values in options.items())}.")
    reviews = [{"title": rng.choice(("Great value", "As described", "Works well", "Not bad", "Love it")),
                "score": rng.randint(3, 5), "body": f"The {kind.name} arrived quickly."} for _ in range(rng.randint(0, 3))]
    return Product(
        asin=_asin(rng, taken), name=name, kind=kind.name, brand=brand, material=material, category=kind.path[0].lower(),
        query=kind.query, product_category=" › ".join(kind.path), description=description,
        bullet_points=bullet_points, attributes=attributes, options=options, pricing=pricing, price=price,
        rating=round(rng.uniform(3.0, 5.0), 1), reviews=reviews,
    )


def price_upper(price: float, rng: random.Random) -> float:
    """The original's bound: the larger of two distinct picks among the first four multiples of 10
    above the price (no bound, 1,000,000, when fewer than two are left)."""
    above = [bound for bound in PRICE_BOUNDS if bound > price][:4]
    return float(max(rng.sample(above, 2))) if len(above) >= 2 else 1_000_000.0


def make_goal(product: Product, kind: Kind, rng: random.Random) -> Goal:
    attributes = rng.sample(product.attributes, rng.randint(1, min(2, len(product.attributes))))
    options = {name: rng.choice(values) for name, values in product.options.items()}
    bound = price_upper(product.price, rng)
    wanted = " and ".join(attributes)
    chosen = ", ".join(f"{value} {name}" if name == "flavor" else (f"size {value}" if name == "size" else value)
                       for name, value in options.items())
    opening = rng.choice(("i need", "i am looking for", "i want to buy", "find me"))
    text = f"{opening} {wanted} {kind.plural} in {chosen}"
    if bound < 1_000_000:
        text += f", and price lower than {bound:.2f} dollars"
    return Goal(product.asin, product.name, product.query, product.category, product.product_category, text,
                attributes, options, bound)


def make_catalogue(size: int, seed: int = 0, held_out: int | None = None) -> Catalogue:
    """``size`` products and one goal per product, reproducible from ``seed``; the first
    ``held_out`` goals after the original's shuffle (seed 233) are the test split (default: a
    tenth, at most 500, as the original's test split)."""
    if size < 1:
        raise ValueError(f"A WebShop catalogue needs at least one product, not {size}.")
    rng = random.Random(seed)
    taken: set[str] = set()
    products, goals = {}, []
    for index in range(size):
        kind = KINDS[index % len(KINDS)]
        product = make_product(kind, rng, taken)
        products[product.asin] = product
        goals.append(make_goal(product, kind, rng))
    random.Random(233).shuffle(goals)
    nouns = {word for product in products.values()
             for word in (product.brand.lower(), *product.material.split(), *product.kind.split())}
    return Catalogue(seed, products, goals, held_out if held_out is not None else min(500, size // 10),
                     frozenset(nouns))
